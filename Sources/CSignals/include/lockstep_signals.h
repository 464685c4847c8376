// Stop signals, caught the only safe way: the handler records the signal and returns.
//
// A handler may call only async-signal-safe functions (POSIX signal-safety(7)): it must not
// allocate, lock, log or enter the Swift runtime. So the handler stores the signal number in a
// `volatile sig_atomic_t` and returns; the training loop reads it between steps and the ranks
// agree on the stop through the step's own reduction.
#ifndef LOCKSTEP_SIGNALS_H
#define LOCKSTEP_SIGNALS_H

/// Installs the stop handler for each of the `count` signals in `signals` (`SA_RESTART`, so
/// interrupted system calls resume). The first of them that arrives is recorded
/// (`lockstep_stop_signal`). A later one from the same sender (the same process id, or the
/// terminal for both) means "stop now": the handler restores the default action and re-raises it,
/// so the process ends by that signal at once. One from another sender is ignored: under `mpirun`
/// a rank can get the same request twice, once from the scheduler and once forwarded by `mpirun`.
/// Returns 0, or the `errno` of the `sigaction` that failed.
int lockstep_install_stop_handlers(const int *signals, int count);

/// The first stop signal received since the handlers were installed, or 0.
int lockstep_stop_signal(void);

#endif
