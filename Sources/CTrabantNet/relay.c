#define _GNU_SOURCE
#include "CTrabantNet.h"

#if defined(__linux__)
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

static void to_sockaddr(const tn_addr *a, int v6socket, struct sockaddr_storage *ss, socklen_t *len) {
    memset(ss, 0, sizeof *ss);
    if (a->v6 || v6socket) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a->port);
        if (a->v6) {
            for (int i = 0; i < 8; i++) s6->sin6_addr.s6_addr[i] = (uint8_t)(a->hi >> (56 - 8 * i));
            for (int i = 0; i < 8; i++) s6->sin6_addr.s6_addr[8 + i] = (uint8_t)(a->lo >> (56 - 8 * i));
        } else {
            s6->sin6_addr.s6_addr[10] = 0xff;
            s6->sin6_addr.s6_addr[11] = 0xff;
            uint32_t v4 = htonl((uint32_t)a->lo);
            memcpy(&s6->sin6_addr.s6_addr[12], &v4, 4);
        }
        *len = sizeof(struct sockaddr_in6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(a->port);
        s4->sin_addr.s_addr = htonl((uint32_t)a->lo);
        *len = sizeof(struct sockaddr_in);
    }
}

static void from_sockaddr(const struct sockaddr_storage *ss, tn_addr *a) {
    memset(a, 0, sizeof *a);
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        const uint8_t *b = s6->sin6_addr.s6_addr;
        a->port = ntohs(s6->sin6_port);
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, mapped, 12) == 0) {
            a->lo = ((uint32_t)b[12] << 24) | ((uint32_t)b[13] << 16) | ((uint32_t)b[14] << 8) | b[15];
            return;
        }
        a->v6 = 1;
        for (int i = 0; i < 8; i++) a->hi = (a->hi << 8) | b[i];
        for (int i = 8; i < 16; i++) a->lo = (a->lo << 8) | b[i];
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        a->port = ntohs(s4->sin_port);
        a->lo = ntohl(s4->sin_addr.s_addr);
    }
}

int tn_bind(const tn_addr *local, int rcvbuf, int sndbuf) {
    int fd = socket(local->v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (local->v6) {
        int v6only = (local->hi == 0 && local->lo == 0) ? 0 : 1;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    struct sockaddr_storage ss;
    socklen_t len;
    to_sockaddr(local, local->v6, &ss, &len);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int tn_recv_many(int fd, uint8_t *bufs, uint32_t stride, unsigned count, uint32_t *lens, tn_addr *src) {
    if (count > TN_MAX_BATCH) count = TN_MAX_BATCH;
    struct mmsghdr hdr[TN_MAX_BATCH];
    struct iovec iov[TN_MAX_BATCH];
    struct sockaddr_storage from[TN_MAX_BATCH];
    for (unsigned i = 0; i < count; i++) {
        iov[i].iov_base = bufs + (size_t)i * stride;
        iov[i].iov_len = stride;
        memset(&hdr[i], 0, sizeof hdr[i]);
        hdr[i].msg_hdr.msg_name = &from[i];
        hdr[i].msg_hdr.msg_namelen = sizeof from[i];
        hdr[i].msg_hdr.msg_iov = &iov[i];
        hdr[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, hdr, count, MSG_DONTWAIT, NULL);
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNREFUSED) ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        // A datagram larger than the buffer is truncated: report its size as 0 so it is dropped.
        lens[i] = (hdr[i].msg_hdr.msg_flags & MSG_TRUNC) ? 0 : hdr[i].msg_len;
        from_sockaddr(&from[i], &src[i]);
    }
    return n;
}

int tn_send_many(int fd, int v6socket, const tn_msg *msgs, unsigned count) {
    if (count > TN_MAX_BATCH) count = TN_MAX_BATCH;
    struct mmsghdr hdr[TN_MAX_BATCH];
    struct iovec iov[TN_MAX_BATCH];
    struct sockaddr_storage to[TN_MAX_BATCH];
    socklen_t tolen[TN_MAX_BATCH];
    for (unsigned i = 0; i < count; i++) {
        to_sockaddr(&msgs[i].addr, v6socket, &to[i], &tolen[i]);
        iov[i].iov_base = msgs[i].buf;
        iov[i].iov_len = msgs[i].len;
        memset(&hdr[i], 0, sizeof hdr[i]);
        hdr[i].msg_hdr.msg_name = &to[i];
        hdr[i].msg_hdr.msg_namelen = tolen[i];
        hdr[i].msg_hdr.msg_iov = &iov[i];
        hdr[i].msg_hdr.msg_iovlen = 1;
    }
    unsigned sent = 0;
    while (sent < count) {
        int n = sendmmsg(fd, hdr + sent, count - sent, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            // ECONNREFUSED etc. from an earlier ICMP error: skip that datagram, keep going.
            if (errno != EAGAIN && errno != EWOULDBLOCK && sent < count) {
                sent++;
                continue;
            }
            break;
        }
        if (n == 0) break;
        sent += (unsigned)n;
    }
    return (int)sent;
}

int tn_local_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -errno;
    tn_addr a;
    from_sockaddr(&ss, &a);
    return a.port;
}

int tn_epoll_del(int epfd, int fd) { return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) == 0 ? 0 : -errno; }

int tn_eventfd(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

void tn_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t r = write(fd, &one, sizeof one);
    (void)r;
}

void tn_eventfd_drain(int fd) {
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
}
#endif
