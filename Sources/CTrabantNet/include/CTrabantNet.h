// Batched UDP I/O for Linux (recvmmsg/sendmmsg, epoll, eventfd) for the media relay's
// fast path and the benchmark's load generator. Nothing here allocates; every batch
// lives on the stack.
#ifndef CTRABANT_NET_H
#define CTRABANT_NET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TN_MAX_BATCH 256

int tn_epoll_create(void);
int tn_epoll_add(int epfd, int fd, uint64_t token);
/// Waits up to timeout_ms for readable fds; writes their tokens. Returns the count or -errno.
int tn_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms);
int tn_close(int fd);
/// CLOCK_MONOTONIC in nanoseconds.
uint64_t tn_now_ns(void);
/// Pins the calling thread to one CPU; 0 or -errno.
int tn_pin_thread(int cpu);

// ---- The relay's own batched socket loop (any address family) ----

/// An IPv4 or IPv6 endpoint. IPv4 lives in the low 32 bits of `lo` (host order).
typedef struct tn_addr {
    uint64_t hi;
    uint64_t lo;
    uint16_t port;
    uint8_t v6;
} tn_addr;

/// One datagram: a buffer and its peer.
typedef struct tn_msg {
    void *buf;
    uint32_t len;
    tn_addr addr;
} tn_msg;

/// Binds a non-blocking UDP socket. An IPv6 wildcard (::) socket also takes IPv4.
/// Returns the fd or -errno.
int tn_bind(const tn_addr *local, int rcvbuf, int sndbuf);
/// recvmmsg without blocking into `count` buffers `stride` bytes apart; fills `lens` and
/// `src` (IPv4-mapped IPv6 sources are reported as IPv4). Returns the count, 0 if none, or -errno.
int tn_recv_many(int fd, uint8_t *bufs, uint32_t stride, unsigned count, uint32_t *lens, tn_addr *src);
/// sendmmsg; `v6socket` says whether IPv4 peers must be written as IPv4-mapped IPv6.
/// Returns how many were sent (the rest did not fit the socket buffer) or -errno.
int tn_send_many(int fd, int v6socket, const tn_msg *msgs, unsigned count);
int tn_epoll_del(int epfd, int fd);
/// The local port a socket is bound to, or -errno.
int tn_local_port(int fd);
/// An eventfd to wake a loop; signal adds 1, drain resets.
int tn_eventfd(void);
void tn_eventfd_signal(int fd);
void tn_eventfd_drain(int fd);

#ifdef __cplusplus
}
#endif
#endif
