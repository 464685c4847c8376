// Only CMPIShim imports this module: Swift cannot use OpenMPI's handle macros
// (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE), so no Swift code includes <mpi.h>.
#include <mpi.h>
