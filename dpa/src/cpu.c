/*
 * cpu.c -- which accelerated paths this CPU has (see fill.h).
 *
 * Every scheme's kernel masks its `paths` argument with dpa_cpu_paths(), so
 * code compiled for AVX2 or SHA-NI (target attributes, never -march) runs
 * only where the CPU has it.
 */
#include "fill.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define DPA_CPU_X86 1
#include <cpuid.h>
#else
#define DPA_CPU_X86 0
#endif

int dpa_cpu_paths(void)
{
    static int cached = -1;
    int paths = 0;
    if (cached >= 0) return cached;
#if DPA_CPU_X86
    {
        unsigned int eax, ebx, ecx, edx;
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2")) paths |= DPA_PATH_AVX2;
        /* CPUID.(EAX=7,ECX=0):EBX bit 29 is SHA; it needs SSE4.1 and SSSE3 too. */
        if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ebx & (1u << 29)) &&
            __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("ssse3"))
            paths |= DPA_PATH_SHANI;
    }
#endif
    cached = paths;
    return paths;
}
