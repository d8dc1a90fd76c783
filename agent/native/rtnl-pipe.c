/*
 * rtnl-pipe: a tiny helper that relays rtnetlink (NETLINK_ROUTE, see
 * include/uapi/linux/netlink.h and rtnetlink.h) to its stdout as framed records,
 * so that the Node.js process never holds a netlink socket itself.
 *
 * Why a separate process: the overflow path (ENOBUFS) must never take the agent
 * down. Here ENOBUFS is just a frame on a pipe; if this helper dies, the agent sees
 * EOF, restarts it and resyncs. See docs/rtnetlink.md.
 *
 * Usage: rtnl-pipe [--rcvbuf BYTES]
 *   stdin : commands, one per line: "dump <id>" (dump links, addresses, routes and
 *           rules of the current network namespace on a second socket).
 *   stdout: frames, each an 8-byte header in host byte order
 *             u32 payload length, u16 frame type, u16 reserved (0)
 *           followed by the payload. Frame types are listed below (FRAME_*).
 *
 * The helper does not parse messages beyond the netlink header it needs to find
 * the end of a dump; parsing is TypeScript's job (agent/src/rtnetlink/).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
  FRAME_READY = 1,      /* payload: u32 effective receive buffer bytes */
  FRAME_EVENT = 2,      /* payload: one multicast datagram (one or more nlmsgs) */
  FRAME_DUMP = 3,       /* payload: one dump datagram; u32 dump id prefix */
  FRAME_DUMP_DONE = 4,  /* payload: u32 dump id */
  FRAME_OVERFLOW = 5,   /* payload: none; the multicast socket returned ENOBUFS */
  FRAME_TRUNCATED = 6,  /* payload: u32 real datagram length (MSG_TRUNC) */
  FRAME_ERROR = 7,      /* payload: i32 errno, then UTF-8 text */
  FRAME_DUMP_START = 8, /* payload: u32 dump id; every EVENT after it was read after the
                           dump request was sent (the socket was drained just before) */
};

#define RECV_BUF (1u << 20)  /* larger than any rtnetlink datagram */
#define OUT_BUF (4u << 20)
#define OUT_FLUSH_AT (OUT_BUF - RECV_BUF - 64)
#define COALESCE_BYTES (64u << 10)
#define COALESCE_MS 2

static unsigned char rbuf[RECV_BUF];
static unsigned char obuf[OUT_BUF];
static size_t olen;

static void flush_out(void) {
  size_t off = 0;
  while (off < olen) {
    ssize_t n = write(1, obuf + off, olen - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      _exit(3); /* reader is gone */
    }
    off += (size_t)n;
  }
  olen = 0;
}

static void frame(uint16_t type, const void *p1, uint32_t l1, const void *p2, uint32_t l2) {
  uint32_t len = l1 + l2;
  if (olen + 8 + len > OUT_BUF) flush_out();
  uint16_t zero = 0;
  memcpy(obuf + olen, &len, 4);
  memcpy(obuf + olen + 4, &type, 2);
  memcpy(obuf + olen + 6, &zero, 2);
  olen += 8;
  if (l1) memcpy(obuf + olen, p1, l1);
  olen += l1;
  if (l2) memcpy(obuf + olen, p2, l2);
  olen += l2;
}

static void error_frame(int err, const char *what) {
  char text[256];
  int32_t e = err;
  int n = snprintf(text, sizeof text, "%s: %s", what, strerror(err));
  if (n < 0) n = 0;
  if (n > (int)sizeof text - 1) n = (int)sizeof text - 1;
  frame(FRAME_ERROR, &e, 4, text, (uint32_t)n);
}

static int open_socket(unsigned groups_mask, const unsigned *groups, int ngroups, int rcvbuf) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0) return -1;
  if (rcvbuf > 0) {
    /* SO_RCVBUFFORCE ignores net.core.rmem_max (needs CAP_NET_ADMIN); fall back. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = groups_mask};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) return -1;
  for (int i = 0; i < ngroups; i++) {
    unsigned g = groups[i];
    if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof g) < 0) return -1;
  }
  return fd;
}

/* Dump stages, run one after the other on the dump socket. */
static const struct { uint16_t type; uint8_t family; } stages[] = {
    {RTM_GETLINK, AF_UNSPEC}, {RTM_GETADDR, AF_INET},  {RTM_GETADDR, AF_INET6},
    {RTM_GETROUTE, AF_INET},  {RTM_GETROUTE, AF_INET6}, {RTM_GETRULE, AF_INET},
    {RTM_GETRULE, AF_INET6},
};
#define NSTAGES (int)(sizeof stages / sizeof stages[0])

static int dump_fd = -1;
static int mc_fd = -1;
static int dump_stage = -1; /* -1: idle */
static uint32_t dump_id, dump_seq = 1000;
static uint32_t pending[64];
static int npending;

static int send_dump_request(void) {
  struct {
    struct nlmsghdr nh;
    struct rtgenmsg g; /* first byte of every rtnetlink family header is the family */
    unsigned char pad[24];
  } req;
  memset(&req, 0, sizeof req);
  /* ifinfomsg is the largest header (16 bytes); send that much so strict checking passes. */
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  req.nh.nlmsg_type = stages[dump_stage].type;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = ++dump_seq;
  req.g.rtgen_family = stages[dump_stage].family;
  if (stages[dump_stage].type == RTM_GETROUTE || stages[dump_stage].type == RTM_GETRULE)
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
  else if (stages[dump_stage].type == RTM_GETADDR)
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
  struct sockaddr_nl to = {.nl_family = AF_NETLINK};
  for (;;) {
    ssize_t n = sendto(dump_fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&to, sizeof to);
    if (n >= 0) return 0;
    if (errno == EINTR) continue;
    return -1;
  }
}

/* Relays up to `max` datagrams (0: until the socket is empty) from the multicast socket,
   up to MMSG_N per recvmmsg() call. */
#define MMSG_N 64
#define MMSG_BUF (64u << 10)
static unsigned char mbuf[MMSG_N][MMSG_BUF];
static struct mmsghdr mmsg[MMSG_N];
static struct iovec miov[MMSG_N];

static void drain_events(int max) {
  int got = 0;
  while (max == 0 || got < max) {
    for (int i = 0; i < MMSG_N; i++) {
      miov[i].iov_base = mbuf[i];
      miov[i].iov_len = MMSG_BUF;
      memset(&mmsg[i].msg_hdr, 0, sizeof mmsg[i].msg_hdr);
      mmsg[i].msg_hdr.msg_iov = &miov[i];
      mmsg[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(mc_fd, mmsg, MMSG_N, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == ENOBUFS) {
        /* The kernel dropped notifications (netlink_overrun); reported once until the
           queue has been emptied again. */
        frame(FRAME_OVERFLOW, NULL, 0, NULL, 0);
        continue;
      }
      error_frame(errno, "recv");
      return;
    }
    for (int i = 0; i < n; i++) {
      uint32_t len = mmsg[i].msg_len;
      if (mmsg[i].msg_hdr.msg_flags & MSG_TRUNC) {
        uint32_t real = len;
        frame(FRAME_TRUNCATED, &real, 4, NULL, 0);
        if (len > MMSG_BUF) len = MMSG_BUF;
      }
      frame(FRAME_EVENT, mbuf[i], len, NULL, 0);
      if (olen > OUT_FLUSH_AT) flush_out();
    }
    got += n;
    if (n < MMSG_N) return; /* the socket is (momentarily) empty */
  }
}

static void start_dump(uint32_t id) {
  /* Everything queued before the dump request is older than the dump: relay it first,
     then mark the boundary. */
  drain_events(0);
  frame(FRAME_DUMP_START, &id, 4, NULL, 0);
  dump_id = id;
  dump_stage = 0;
  if (send_dump_request() < 0) {
    error_frame(errno, "dump request");
    frame(FRAME_DUMP_DONE, &dump_id, 4, NULL, 0);
    dump_stage = -1;
  }
}

static void read_dump(void) {
  for (;;) {
    ssize_t n = recv(dump_fd, rbuf, RECV_BUF, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      /* ENOBUFS cannot happen on a socket without groups; report anything else. */
      error_frame(errno, "dump recv");
      return;
    }
    if ((size_t)n > RECV_BUF) {
      uint32_t real = (uint32_t)n;
      frame(FRAME_TRUNCATED, &real, 4, NULL, 0);
      n = RECV_BUF;
    }
    frame(FRAME_DUMP, &dump_id, 4, rbuf, (uint32_t)n);
    if (olen > OUT_FLUSH_AT) flush_out();
    /* Find NLMSG_DONE (or an error) for the current stage. */
    int done = 0;
    for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != dump_seq) continue;
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) done = 1;
    }
    if (done && dump_stage >= 0) {
      dump_stage++;
      if (dump_stage >= NSTAGES || send_dump_request() < 0) {
        if (dump_stage < NSTAGES) error_frame(errno, "dump request");
        frame(FRAME_DUMP_DONE, &dump_id, 4, NULL, 0);
        dump_stage = -1;
        if (npending > 0) {
          uint32_t next = pending[0];
          memmove(pending, pending + 1, sizeof(uint32_t) * (size_t)--npending);
          start_dump(next);
        }
      }
      return;
    }
  }
}

static char cmdbuf[4096];
static size_t cmdlen;

static int read_commands(void) {
  ssize_t n = read(0, cmdbuf + cmdlen, sizeof cmdbuf - cmdlen - 1);
  if (n == 0) return -1; /* parent closed stdin: exit */
  if (n < 0) return errno == EINTR || errno == EAGAIN ? 0 : -1;
  cmdlen += (size_t)n;
  char *nl;
  while ((nl = memchr(cmdbuf, '\n', cmdlen)) != NULL) {
    *nl = 0;
    unsigned id;
    if (sscanf(cmdbuf, "dump %u", &id) == 1) {
      if (dump_stage < 0) start_dump(id);
      else if (npending < 64) pending[npending++] = id;
    } else {
      error_frame(EINVAL, "unknown command");
    }
    size_t used = (size_t)(nl - cmdbuf) + 1;
    memmove(cmdbuf, nl + 1, cmdlen - used);
    cmdlen -= used;
  }
  if (cmdlen == sizeof cmdbuf - 1) cmdlen = 0; /* garbage without newline */
  return 0;
}

int main(int argc, char **argv) {
  int rcvbuf = 32 << 20;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--rcvbuf") == 0 && i + 1 < argc) rcvbuf = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: rtnl-pipe [--rcvbuf BYTES]\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  fcntl(1, F_SETPIPE_SZ, 1 << 20); /* best effort: fewer wakeups of the reader */

  static const unsigned groups[] = {RTNLGRP_LINK,       RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
                                    RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,  RTNLGRP_IPV4_RULE,
                                    RTNLGRP_IPV6_RULE};
  mc_fd = open_socket(0, groups, (int)(sizeof groups / sizeof groups[0]), rcvbuf);
  if (mc_fd < 0) {
    error_frame(errno, "multicast socket");
    flush_out();
    return 1;
  }
  dump_fd = open_socket(0, NULL, 0, 8 << 20);
  if (dump_fd < 0) {
    error_frame(errno, "dump socket");
    flush_out();
    return 1;
  }
  int eff = 0;
  socklen_t sl = sizeof eff;
  getsockopt(mc_fd, SOL_SOCKET, SO_RCVBUF, &eff, &sl);
  uint32_t effective = (uint32_t)eff;
  frame(FRAME_READY, &effective, 4, NULL, 0);
  flush_out();

  struct pollfd fds[3] = {{.fd = 0, .events = POLLIN}, {.fd = mc_fd, .events = POLLIN}, {.fd = dump_fd, .events = POLLIN}};
  for (;;) {
    int r = poll(fds, 3, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (read_commands() < 0) {
        flush_out();
        return 0;
      }
    }
    if (fds[1].revents & (POLLIN | POLLERR)) drain_events(4096);
    if (fds[2].revents & (POLLIN | POLLERR)) read_dump();
    /* Coalesce: during a burst, gather up to COALESCE_BYTES or COALESCE_MS before one
       write, so the reader wakes up once per batch instead of once per notification.
       The added latency (<= COALESCE_MS) is far below charon's own 100 ms roam delay. */
    if (olen && olen < COALESCE_BYTES && dump_stage < 0) {
      struct pollfd mc = {.fd = mc_fd, .events = POLLIN};
      if (poll(&mc, 1, COALESCE_MS) > 0) drain_events(4096);
    }
    if (olen) flush_out();
  }
}
