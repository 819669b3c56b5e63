/*
 * cpu.c -- which accelerated paths this CPU has (see fill.h).
 *
 * Every scheme's kernel masks its `paths` argument with dpa_cpu_paths(), so
 * code compiled for AVX2, AVX-512 or SHA-NI (target attributes, never
 * -march) runs only where both the CPU and the operating system support it.
 * A CPU can report AVX or AVX-512 while the OS does not save the wider
 * registers on a context switch (an old kernel, a hypervisor that masks
 * XSAVE state, Linux booted with AVX-512 state disabled): the registers'
 * upper halves would then be lost, or the instructions fault.  So besides
 * the CPUID feature bits this checks OSXSAVE and the XCR0 register
 * (XGETBV): SSE and AVX state for AVX2, and opmask, ZMM_Hi256 and Hi16_ZMM
 * state as well for AVX-512 (Intel SDM vol. 1, 15.2 and 13.3).
 */
#include "fill.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define DPA_CPU_X86 1
#include <cpuid.h>
#else
#define DPA_CPU_X86 0
#endif

#if DPA_CPU_X86
/* XCR0 state components (SDM vol. 1, 13.1). */
#define XCR0_SSE (1u << 1)
#define XCR0_AVX (1u << 2)
#define XCR0_OPMASK (1u << 5)
#define XCR0_ZMM_HI256 (1u << 6)
#define XCR0_HI16_ZMM (1u << 7)

/* The low word of XCR0; call only when CPUID says OSXSAVE. */
static unsigned int xcr0_low(void)
{
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return lo;
}

static int x86_paths(void)
{
    unsigned int eax, ebx, ecx, edx, ebx7, ecx1, xcr0 = 0;
    int paths = 0, ymm_os, zmm_os;
    if (!__get_cpuid(1, &eax, &ebx, &ecx1, &edx)) return 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx7, &ecx, &edx)) return 0;
    /* CPUID.1:ECX bit 27 OSXSAVE: the OS enabled XGETBV and XSAVE. */
    if (ecx1 & (1u << 27)) xcr0 = xcr0_low();
    ymm_os = (xcr0 & (XCR0_SSE | XCR0_AVX)) == (XCR0_SSE | XCR0_AVX);
    zmm_os = ymm_os && (xcr0 & (XCR0_OPMASK | XCR0_ZMM_HI256 | XCR0_HI16_ZMM)) ==
                           (XCR0_OPMASK | XCR0_ZMM_HI256 | XCR0_HI16_ZMM);
    /* CPUID.1:ECX bit 28 AVX; CPUID.7.0:EBX bit 5 AVX2. */
    if (ymm_os && (ecx1 & (1u << 28)) && (ebx7 & (1u << 5))) paths |= DPA_PATH_AVX2;
    /* CPUID.7.0:EBX bits 16 AVX512F, 17 DQ, 30 BW, 31 VL; AVX2 too, which
     * every AVX-512 CPU has and the AVX-512 code's 256-bit parts use. */
    if (zmm_os && (paths & DPA_PATH_AVX2) &&
        (ebx7 & ((1u << 16) | (1u << 17) | (1u << 30) | (1u << 31))) ==
            ((1u << 16) | (1u << 17) | (1u << 30) | (1u << 31)))
        paths |= DPA_PATH_AVX512;
    /* CPUID.7.0:EBX bit 29 SHA; it needs SSE4.1 (ECX bit 19) and SSSE3
     * (ECX bit 9) too. */
    if ((ebx7 & (1u << 29)) && (ecx1 & (1u << 19)) && (ecx1 & (1u << 9)))
        paths |= DPA_PATH_SHANI;
    return paths;
}
#endif

int dpa_cpu_paths(void)
{
    static int cached = -1;
    int paths = 0;
    if (cached >= 0) return cached;
#if DPA_CPU_X86
    paths = x86_paths();
#endif
    cached = paths;
    return paths;
}
