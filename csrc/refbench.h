/*
 * Pure-C reference senders and receivers for `python -m fastsig bench`.
 *
 * They ship inside the extension so the benchmark runs from an installed wheel
 * with no compiler: the bench forks a child and calls one of these, which then
 * runs entirely in C. They are the yardstick the Python paths are measured
 * against, so each is the plain, fast C a careful user would write.
 *
 * Flood protocol: the sender queues values 0..n-1 on `sig`, then one end
 * marker with value -1 on `end_sig` (a higher real-time signal, so the kernel
 * delivers it after every pending `sig`). Receivers count, check order and
 * duplicates, and stop at the marker or after `idle_timeout_ns` with nothing.
 * Times are CLOCK_MONOTONIC, comparable across processes.
 */
#ifndef FASTSIG_REFBENCH_H
#define FASTSIG_REFBENCH_H

#include <stdint.h>

/* cdef-begin */

enum {
    FS_REF_SIGWAITINFO = 1,   /* sigtimedwait() one at a time */
    FS_REF_SIGNALFD = 2,      /* read() batches of signalfd records */
    FS_REF_HANDLER = 3,       /* SA_SIGINFO handler counting into atomics */
    FS_REF_TAKE = 4,          /* the same, also taking what is pending (rt_sigtimedwait) */
    FS_REF_GLIBC = 1,         /* fs_ref_flood flag: glibc sigqueue(), 3 syscalls */
    FS_REF_KILL = 2           /* fs_ref_flood flag: kill(), no value (the send cost's yardstick) */
};

typedef struct fs_ref_sent {
    uint64_t sent;        /* values queued (the end marker not included) */
    uint64_t eagain;      /* times the queue was full and we retried */
    int64_t start_ns;     /* before the first send */
    int64_t end_ns;       /* after the last send */
} fs_ref_sent;

typedef struct fs_ref_recv {
    uint64_t received;     /* deliveries of sig */
    uint64_t unique;       /* distinct values in 0..n-1 */
    uint64_t out_of_order; /* a value that is not the previous one + 1 */
    uint64_t duplicates;   /* a value seen before */
    uint64_t foreign;      /* a value outside 0..n-1 */
    int64_t first_ns;      /* first delivery of sig */
    int64_t last_ns;       /* last delivery of sig */
    int64_t end_ns;        /* end marker seen; 0: stopped by the idle timeout */
    int64_t start_ns;      /* set up: just before the first wait, or the unblock */
} fs_ref_recv;

/* Queue values 0..n-1 to pid on sig, retrying while the queue is full, then
 * the end marker (-1) on end_sig unless end_sig is 0. */
int fs_ref_flood(int32_t pid, int sig, uint64_t n, int end_sig, int flags,
                 fs_ref_sent *out);

/* Receive a flood with one of the FS_REF_* kinds. Sets itself up (blocks the
 * signals, or installs the handler), writes one byte to ready_fd (if >= 0),
 * then receives. Returns 0, or -1 with errno. Meant for a single-threaded
 * process (the bench's forked child): another thread could take the signals,
 * and FS_REF_HANDLER runs one receive per process at a time (EBUSY). */
int fs_ref_receive(int kind, int sig, int end_sig, uint64_t n,
                   int64_t idle_timeout_ns, int ready_fd, fs_ref_recv *out);

/* Ping-pong with sigqueue + sigtimedwait; the caller blocks wait_sig first.
 * Client (rounds > 0, rtt_ns != NULL): sends i, waits for the reply, stores
 * each round trip in rtt_ns[i]. Server (rtt_ns == NULL): waits, replies with
 * the same value, until `rounds` replies (0: no limit) or the timeout.
 * Returns the rounds completed, or -1 with errno. */
int64_t fs_ref_pingpong(int32_t peer, int send_sig, int wait_sig, uint64_t rounds,
                        int64_t timeout_ns, int64_t *rtt_ns);

/* cdef-end */

#endif
