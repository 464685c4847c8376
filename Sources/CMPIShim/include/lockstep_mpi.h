// lockstep_mpi: the narrow plain-C waist between Swift and Open MPI.
//
// Why this exists: Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE, ...) are
// macros over the addresses of global structs, which Swift's C importer cannot import. This shim
// is the only code that includes <mpi.h>; it exposes plain C types only, so Swift never sees MPI.
//
// Conventions:
// - Every function returns an int status: LOCKSTEP_MPI_SUCCESS (0), an MPI error code (the
//   communicator uses MPI_ERRORS_RETURN, so failures come back instead of aborting), or one of
//   the LOCKSTEP_MPI_ERR_* codes below. lockstep_mpi_error_string() describes any of them.
// - Element counts are int64_t; a count above INT_MAX (MPI's `int` count) is refused with
//   LOCKSTEP_MPI_ERR_COUNT instead of being truncated.
// - All collectives run on MPI_COMM_WORLD.
#ifndef LOCKSTEP_MPI_H
#define LOCKSTEP_MPI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    LOCKSTEP_MPI_SUCCESS = 0,
    /// A count or displacement exceeds MPI's `int` range.
    LOCKSTEP_MPI_ERR_COUNT = -1,
    /// An argument the shim itself rejects (unknown operation, null pointer with a non-zero count).
    LOCKSTEP_MPI_ERR_ARGUMENT = -2,
};

/// Reduction operations.
typedef enum {
    LOCKSTEP_MPI_OP_SUM = 0,
    LOCKSTEP_MPI_OP_MAX = 1,
    LOCKSTEP_MPI_OP_MIN = 2,
} lockstep_mpi_op;

/// Element types for reductions.
typedef enum {
    LOCKSTEP_MPI_FLOAT32 = 0,
    LOCKSTEP_MPI_FLOAT64 = 1,
    LOCKSTEP_MPI_INT64 = 2,
    LOCKSTEP_MPI_INT32 = 3,
} lockstep_mpi_type;

/// An opaque handle for a nonblocking operation (holds an MPI_Request).
typedef struct {
    void *opaque;
} lockstep_mpi_request;

// MARK: - Environment

/// MPI_Init_thread(MPI_THREAD_FUNNELED) and MPI_ERRORS_RETURN on MPI_COMM_WORLD.
int lockstep_mpi_init(void);
int lockstep_mpi_finalize(void);
int lockstep_mpi_rank(int32_t *rank);
int lockstep_mpi_size(int32_t *size);
/// Ends every process of the job with `code` (MPI_Abort). Does not return on success.
int lockstep_mpi_abort(int32_t code);
/// Seconds since an arbitrary point (MPI_Wtime).
double lockstep_mpi_wtime(void);
/// Writes a NUL-terminated description of `code` (an MPI or LOCKSTEP_MPI_ERR_* code) into `buffer`.
void lockstep_mpi_error_string(int code, char *buffer, int32_t capacity);
/// The MPI library's version string (MPI_Get_library_version), NUL-terminated.
int lockstep_mpi_library_version(char *buffer, int32_t capacity);

// MARK: - Blocking collectives

int lockstep_mpi_barrier(void);
/// In-place allreduce of `count` elements of `type` with `op` (MPI_IN_PLACE).
int lockstep_mpi_allreduce(void *buffer, int64_t count, lockstep_mpi_type type, lockstep_mpi_op op);
/// Broadcast of `byte_count` bytes from `root`.
int lockstep_mpi_broadcast(void *buffer, int64_t byte_count, int32_t root);
/// Allgather of `byte_count` bytes per rank into `receive` (world size × byte_count bytes).
int lockstep_mpi_allgather(const void *send, int64_t byte_count, void *receive);
/// Sums float32 `send[0..<sum(counts)]` across ranks; rank r receives its block
/// (counts[r] elements, starting at the sum of counts[0..<r]) in `receive` (MPI_Reduce_scatter).
/// `counts` has world-size entries.
int lockstep_mpi_reduce_scatter_f32(const float *send, float *receive, const int64_t *counts);
/// In-place allgather of float32 blocks: rank r's block (counts[r] elements at the sum of
/// counts[0..<r]) is already in `buffer`; afterwards every rank holds every block (MPI_Allgatherv).
int lockstep_mpi_allgatherv_f32(float *buffer, const int64_t *counts);
/// Gathers float32 blocks on `root`: rank r sends `send` (counts[r] elements), which lands in
/// `receive` at the sum of counts[0..<r] on `root` (MPI_Gatherv). `receive` holds sum(counts)
/// floats on `root` and is ignored (may be NULL) elsewhere.
int lockstep_mpi_gatherv_f32(const float *send, float *receive, const int64_t *counts, int32_t root);

// MARK: - Nonblocking collectives
// The buffer must stay valid and untouched until lockstep_mpi_wait() or a successful
// lockstep_mpi_test(): pass long-lived allocations, never a Swift array's temporary pointer.

/// In-place nonblocking allreduce (MPI_Iallreduce).
int lockstep_mpi_iallreduce(void *buffer, int64_t count, lockstep_mpi_type type, lockstep_mpi_op op,
                            lockstep_mpi_request *request);
/// Drives progress; sets *done to 1 and releases the request when the operation has completed.
int lockstep_mpi_test(lockstep_mpi_request *request, int32_t *done);
/// Blocks until the operation completes and releases the request.
int lockstep_mpi_wait(lockstep_mpi_request *request);

// MARK: - Ring reduce-scatter (point to point, nonblocking)
/// A ring reduce-scatter in flight (opaque; allocated by _start, freed when it completes).
typedef struct {
    void *opaque;
} lockstep_mpi_ring;

/// Starts a ring reduce-scatter of float32 `buffer` over MPI_COMM_WORLD, in place: block r
/// (counts[r] elements, starting at the sum of counts[0..<r]) ends summed on rank r. In N − 1
/// steps each rank sends one block to rank r + 1 and adds the block it receives from rank r − 1
/// into its own copy, so every rank sends, receives and adds (N − 1)/N of the buffer, whatever N.
/// Block r's sum is ((x[r+1] + x[r+2]) + …) + x[r], rank indices modulo N, on every run. The
/// other blocks hold partial sums afterwards. `scratch` holds max(counts) floats; it and
/// `buffer` stay untouched until the ring completes. Rings in flight at the same time need
/// different `tag`s (0 to 32767, the same on every rank); MPI orders messages of the same tag.
int lockstep_mpi_ring_reduce_scatter_start(float *buffer, const int64_t *counts, float *scratch, int32_t tag,
                                           lockstep_mpi_ring *ring);
/// Drives the ring: completes the steps whose messages have arrived and posts the next;
/// sets *done to 1 and frees the ring when the last step is added.
int lockstep_mpi_ring_test(lockstep_mpi_ring *ring, int32_t *done);
/// Runs the ring to completion and frees it.
int lockstep_mpi_ring_wait(lockstep_mpi_ring *ring);

// MARK: - Hierarchical allreduce
/// In-place sum of float32 `buffer` in three steps: a reduce-scatter among the ranks of each node
/// (node rank i receives the node's sum of block i of `count` split in node-size blocks, the first
/// count % node size one longer), a reduce-scatter and an allgather of block i among the ranks of
/// node rank i (one per node: only they cross the network, each with 1/(node size) of the
/// buffer), and an allgather within the node. Every part is summed on one rank and copied to the
/// others, so every rank holds the same bytes. Every node must hold the same number of ranks.
/// `scratch` holds the largest block. The communicator of the ranks with the same node rank is
/// made on first use and kept.
int lockstep_mpi_hierarchical_allreduce_f32(float *buffer, int64_t count, float *scratch);

// MARK: - The ranks of one node (MPI-3 shared memory)

/// This rank's index among the ranks of its node, and their number (MPI_Comm_split_type with
/// MPI_COMM_TYPE_SHARED; the node communicator is made once and kept).
int lockstep_mpi_node_rank(int32_t *node_rank, int32_t *node_size);

/// MPI_Bcast of `byte_count` bytes among the ranks of this node, from node rank `root`.
int lockstep_mpi_node_broadcast(void *buffer, int64_t byte_count, int32_t root);

/// MPI_Barrier among the ranks of this node.
int lockstep_mpi_node_barrier(void);

/// MPI_Win_allocate_shared among the ranks of this node: this rank contributes `byte_count`
/// bytes (0 on the ranks that only map), and `*base` receives the start of node rank 0's
/// segment, `*node_byte_count` its size. Collective over the node. The window stays until
/// lockstep_mpi_finalize, which frees every window before MPI_Finalize.
int lockstep_mpi_node_shared_allocate(int64_t byte_count, void **base, int64_t *node_byte_count);

/// In-place sum of float32 `buffer` among the ranks of this node through an MPI-3 shared-memory
/// window, when every rank of the job is on this node (else LOCKSTEP_MPI_ERR_ARGUMENT): each rank
/// copies its values into its segment; after a node barrier, node rank r sums block r
/// (BlockPartition of `count` in node-size blocks) over the ranks' segments in rank order,
/// ((x[0] + x[1]) + …) + x[N−1], into its own segment; after another barrier every rank copies
/// each block from its owner. So every rank holds the same bytes. Collective over the node; the
/// window (2 × count floats per rank, grown when a call needs more) stays until
/// lockstep_mpi_finalize.
int lockstep_mpi_node_shared_allreduce_f32(float *buffer, int64_t count);

#ifdef __cplusplus
}
#endif

#endif
