// See include/lockstep_signals.h.
#include "lockstep_signals.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>

static volatile sig_atomic_t received = 0;
static volatile sig_atomic_t sender = 0;

static void stop_handler(int signal_number, siginfo_t *info, void *context) {
    (void)context;
    const sig_atomic_t from = info ? (sig_atomic_t)info->si_pid : 0;
    if (received == 0) {
        sender = from;
        received = signal_number;
        return;
    }
    if (from != sender) return;  // the same request relayed by another process
    // Asked again by the same sender: end at once, by this signal (the shell then reports it).
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    sigaction(signal_number, &fallback, NULL);
    sigset_t unblock;
    sigemptyset(&unblock);
    sigaddset(&unblock, signal_number);
    sigprocmask(SIG_UNBLOCK, &unblock, NULL);
    raise(signal_number);
}

int lockstep_install_stop_handlers(const int *signals, int count) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = stop_handler;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < count; i++) sigaddset(&action.sa_mask, signals[i]);  // one handler at a time
    for (int i = 0; i < count; i++) {
        if (sigaction(signals[i], &action, NULL) != 0) return errno;
    }
    return 0;
}

int lockstep_stop_signal(void) { return received; }
