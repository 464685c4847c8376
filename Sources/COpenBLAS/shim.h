// OpenBLAS through pkg-config `openblas` (plain `blas` lacks the openblas_* control functions).
#include <cblas.h>
