/* CPU detection of minisam's kernels: the x86-64 micro-architecture level, read at run time
   so that a portable build can pick the fastest kernel variant that is safe to load. */
#ifndef MINISAM_MS_CPU_H
#define MINISAM_MS_CPU_H

/* The x86-64 micro-architecture level this CPU *and* its OS support: 1 (baseline), 3
   (x86-64-v3: AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE) or 4 (x86-64-v4: v3 + AVX-512
   F/BW/CD/DQ/VL); 0 on other architectures. Level 2 is not told apart from 1 (no kernel
   variant needs it). Read with CPUID and XGETBV, so that it works in any build of the
   module, portable or not, and under clang-cl where libgcc's __builtin_cpu_supports is
   missing. */
#if defined(__x86_64__) || defined(_M_X64)
/* GCC-style inline assembly, which GCC, Clang and clang-cl all accept: no cpuid.h (it
   clashes with MSVC's intrin.h under clang-cl), and no _xgetbv() (compilers only allow it
   in code built for XSAVE; XGETBV runs only once CPUID has reported OSXSAVE). */
static void ms_cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                     : "a"(leaf), "c"(sub));
}
static unsigned long long ms_xcr0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#define MS_BIT(x, n) (((x) >> (n)) & 1u)
static int ms_x86_64_level(void) {
    unsigned r[4], ecx1, ebx7, ecx81 = 0;
    ms_cpuid(0, 0, r);
    unsigned max_leaf = r[0];
    ms_cpuid(1, 0, r);
    ecx1 = r[2];
    if (max_leaf < 7 || !MS_BIT(ecx1, 27)) return 1;  /* no leaf 7 or no OSXSAVE */
    ms_cpuid(7, 0, r);
    ebx7 = r[1];
    ms_cpuid(0x80000000u, 0, r);
    if (r[0] >= 0x80000001u) { ms_cpuid(0x80000001u, 0, r); ecx81 = r[2]; }
    unsigned long long xcr0 = ms_xcr0();
    int v3 = (xcr0 & 0x6) == 0x6 && MS_BIT(ecx1, 12) && MS_BIT(ecx1, 22) && MS_BIT(ecx1, 28)
             && MS_BIT(ecx1, 29) && MS_BIT(ebx7, 3) && MS_BIT(ebx7, 5) && MS_BIT(ebx7, 8)
             && MS_BIT(ecx81, 5);
    if (!v3) return 1;
    int v4 = (xcr0 & 0xE6) == 0xE6 && MS_BIT(ebx7, 16) && MS_BIT(ebx7, 17)
             && MS_BIT(ebx7, 28) && MS_BIT(ebx7, 30) && MS_BIT(ebx7, 31);
    return v4 ? 4 : 3;
}
#else
static int ms_x86_64_level(void) { return 0; }
#endif

#endif  /* MINISAM_MS_CPU_H */
