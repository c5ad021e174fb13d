// OpenBLAS's CBLAS interface, including openblas_set_num_threads / openblas_get_num_threads.
// Debian's libopenblas-dev installs <cblas.h> for the active OpenBLAS variant.
#ifndef LONGREWARD_CBLAS_SHIM_H
#define LONGREWARD_CBLAS_SHIM_H
#include <cblas.h>
#endif
