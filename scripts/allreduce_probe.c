/* allreduce_probe: times MPI_Allreduce (in-place float sum) for message sizes from 4 B up to the
 * 784-512-256-10 MLP's gradient (535,818 floats = 2,143,272 B), to fit the alpha-beta model of
 * scripts/projection.py. Plain C against MPI so that it runs before lockstep has a benchmark
 * command; scripts/measure_allreduce.sh builds and runs it.
 *
 *   mpirun -np P allreduce_probe [REPEATS]      (default 20 timed repeats after 3 warm-ups)
 *
 * Each repeat starts after a barrier and takes the slowest rank's time; rank 0 prints one JSON
 * line per size: {"ranks", "floats", "bytes", "min_s", "median_s"}. The sum is checked, so a
 * broken transport fails instead of timing garbage. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int repeats = argc > 1 ? atoi(argv[1]) : 20;
    if (repeats < 1) {
        if (rank == 0) fprintf(stderr, "allreduce_probe: REPEATS must be positive, found '%s'\n", argv[1]);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    const int counts[] = {1, 16, 256, 4096, 32768, 131072, 535818};
    const int largest = 535818;
    float *buffer = malloc(sizeof(float) * largest);
    double *seconds = malloc(sizeof(double) * repeats);
    const float expected = (float)size * (float)(size + 1) / 2; /* sum of rank + 1: exact in float */

    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        int count = counts[c];
        for (int repeat = -3; repeat < repeats; repeat++) {
            for (int i = 0; i < count; i++) buffer[i] = (float)(rank + 1);
            MPI_Barrier(MPI_COMM_WORLD);
            double start = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double local = MPI_Wtime() - start, slowest;
            MPI_Allreduce(&local, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            if (repeat >= 0) seconds[repeat] = slowest;
            if (buffer[0] != expected || buffer[count - 1] != expected) {
                fprintf(stderr, "allreduce_probe: rank %d: wrong sum %g (expected %g) at %d floats\n",
                        rank, buffer[count - 1], expected, count);
                MPI_Abort(MPI_COMM_WORLD, 3);
            }
        }
        qsort(seconds, repeats, sizeof(double), compare_doubles);
        if (rank == 0) {
            printf("{\"ranks\": %d, \"floats\": %d, \"bytes\": %ld, \"min_s\": %.6e, \"median_s\": %.6e}\n",
                   size, count, (long)count * 4, seconds[0], seconds[repeats / 2]);
            fflush(stdout);
        }
    }
    free(buffer);
    free(seconds);
    MPI_Finalize();
    return 0;
}
