#define _GNU_SOURCE
#include "CTrabantNet.h"

#if defined(__linux__)
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int tn_udp_bind(uint32_t ip, uint16_t port, int rcvbuf, int sndbuf, uint16_t *bound_port) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(ip);
    a.sin_port = htons(port);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    if (bound_port) *bound_port = ntohs(a.sin_port);
    return fd;
}

int tn_send_batch(int fd, const tn_out *msgs, unsigned count) {
    if (count > TN_MAX_BATCH) count = TN_MAX_BATCH;
    struct mmsghdr hdr[TN_MAX_BATCH];
    struct iovec iov[TN_MAX_BATCH];
    struct sockaddr_in dst[TN_MAX_BATCH];
    for (unsigned i = 0; i < count; i++) {
        memset(&dst[i], 0, sizeof dst[i]);
        dst[i].sin_family = AF_INET;
        dst[i].sin_addr.s_addr = htonl(msgs[i].dst_ip);
        dst[i].sin_port = htons(msgs[i].dst_port);
        iov[i].iov_base = (void *)msgs[i].buf;
        iov[i].iov_len = msgs[i].len;
        memset(&hdr[i], 0, sizeof hdr[i]);
        hdr[i].msg_hdr.msg_name = &dst[i];
        hdr[i].msg_hdr.msg_namelen = sizeof dst[i];
        hdr[i].msg_hdr.msg_iov = &iov[i];
        hdr[i].msg_hdr.msg_iovlen = 1;
    }
    int n = sendmmsg(fd, hdr, count, 0);
    return n < 0 ? -errno : n;
}

int tn_recv_batch(int fd, uint8_t *bufs, uint32_t buf_size, unsigned count, uint32_t *lens, uint32_t *src_ip,
                  uint16_t *src_port) {
    if (count > TN_MAX_BATCH) count = TN_MAX_BATCH;
    struct mmsghdr hdr[TN_MAX_BATCH];
    struct iovec iov[TN_MAX_BATCH];
    struct sockaddr_in src[TN_MAX_BATCH];
    for (unsigned i = 0; i < count; i++) {
        iov[i].iov_base = bufs + (size_t)i * buf_size;
        iov[i].iov_len = buf_size;
        memset(&hdr[i], 0, sizeof hdr[i]);
        hdr[i].msg_hdr.msg_name = &src[i];
        hdr[i].msg_hdr.msg_namelen = sizeof src[i];
        hdr[i].msg_hdr.msg_iov = &iov[i];
        hdr[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, hdr, count, MSG_DONTWAIT, NULL);
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        lens[i] = hdr[i].msg_len;
        if (src_ip) src_ip[i] = ntohl(src[i].sin_addr.s_addr);
        if (src_port) src_port[i] = ntohs(src[i].sin_port);
    }
    return n;
}

int tn_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int tn_epoll_add(int epfd, int fd, uint64_t token) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = token;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

int tn_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms) {
    struct epoll_event evs[TN_MAX_BATCH];
    if (max > TN_MAX_BATCH) max = TN_MAX_BATCH;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) tokens[i] = evs[i].data.u64;
    return n;
}

int tn_close(int fd) { return close(fd); }

int tn_pin_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : -errno;
}

uint64_t tn_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
#endif
