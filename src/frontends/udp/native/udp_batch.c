/*
 * udp_batch: the UDP front-end's socket I/O, batched (Linux).
 *
 * Why this is hand-written: node:dgram makes one recvmsg and one JS callback
 * (with a fresh Buffer and a fresh address object) per datagram, and one sendmsg
 * per reply. At tens of thousands of small requests a second that per-datagram
 * overhead, not the server's own work, was most of the UDP front-end's CPU
 * (bench/udp-vs-memcached.ts; node --cpu-prof). Here one recvmmsg reads up to a
 * whole batch, JS is entered once per batch, and the batch's replies leave with
 * one sendmmsg, made on a sender thread of this module's own (perf showed
 * sendmmsg at a third of the event loop's CPU: on loopback it also delivers).
 *
 * Memory is owned by JS: the caller allocates the buffers below and passes them
 * to open(); this file keeps references so they stay alive, and never allocates
 * per datagram. flush() copies a batch's replies out of them for the sender
 * thread, so JS may reuse them at once.
 *
 *   in_data   batch × slot bytes: datagram i is at i × slot
 *   in_len    Int32Array(batch): the datagram's size on the wire (it may be
 *             larger than slot: MSG_TRUNC reports the real size, so an oversize
 *             datagram is still refused by its true size)
 *   in_addr   batch × 20 bytes: the sender of datagram i (address record)
 *   out_data  reply bytes, packed
 *   out_meta  Int32Array(2 × out_max): [offset, length] of reply i in out_data
 *   out_addr  out_max × 20 bytes: the destination of reply i (address record)
 *
 * An address record is [family 4|6][0][port, big-endian u16][4 or 16 address bytes].
 *
 * The JS side is src/frontends/udp/udp-io.ts; a machine without this module (not
 * Linux, or no compiler at install) uses node:dgram instead. build.mjs, beside
 * this file, builds it at `npm ci`.
 */
#define _GNU_SOURCE
/* SHA256_Init and kin are deprecated in OpenSSL 3 in favour of EVP, whose per-call set-up is the cost avoided here. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define ADDR_RECORD 20
/* recvmmsg rounds per readable event before other work (TCP, timers) gets a turn. */
#define MAX_ROUNDS 8
#define N_REFS 7
/* Batches of replies queued for the sender thread; past this, flush() sends on the caller's thread. */
#define RING 4

/* One batch of replies, copied out of JS's buffers for the sender thread. */
typedef struct {
  uint8_t *data;
  struct mmsghdr *msgs;
  struct iovec *iov;
  struct sockaddr_storage *addrs;
  uint32_t n;
} OutBatch;

typedef struct {
  napi_env env;
  uv_poll_t poll;
  int fd;
  int polling;
  int closing;     /* close() was called */
  int closed;      /* the poll handle is closed and fd released */
  int finalized;   /* the JS handle was collected */
  int last_errno;
  napi_ref on_batch;
  napi_ref refs[N_REFS];
  napi_async_context async_ctx;

  uint32_t batch;
  uint32_t slot;
  uint8_t *in_data;
  int32_t *in_len;
  uint8_t *in_addr;
  struct mmsghdr *rmsgs;
  struct iovec *riov;
  struct sockaddr_storage *raddrs;

  uint8_t *out_data;
  size_t out_cap;
  int32_t *out_meta;
  uint8_t *out_addr;
  uint32_t out_max;
  /* The batch flush() sends itself, straight from out_data, when the ring is full. */
  OutBatch direct;

  /*
   * The sender thread. sendmmsg on loopback or a fast LAN does the work of
   * delivery too, and was a third of the event loop's CPU; on its own thread it
   * runs beside the next batch instead of before it.
   */
  pthread_t sender;
  int sender_started;
  pthread_mutex_t mu;
  pthread_cond_t work;
  OutBatch ring[RING];
  uint32_t head;        /* next batch the sender takes (under mu) */
  uint32_t tail;        /* next free batch (under mu) */
  int stop;             /* under mu */
  int32_t async_failed; /* replies the sender could not send, not yet reported (under mu) */
  int async_errno;      /* under mu */
} Sock;

#define CHECK(env, call)                                   \
  do {                                                     \
    if ((call) != napi_ok) {                               \
      napi_throw_error((env), "EINTERNAL", #call " failed"); \
      return NULL;                                         \
    }                                                      \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error;
  /* libuv's codes are the negated errno values on Unix: its names are Node's error codes. */
  napi_create_string_utf8(env, uv_err_name(-err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_set_named_property(env, error, "code", code);
  napi_value errno_value;
  napi_create_int32(env, -err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_throw(env, error);
  return NULL;
}

static void free_batch(OutBatch *b, int owns_data) {
  if (owns_data) free(b->data);
  free(b->msgs);
  free(b->iov);
  free(b->addrs);
}

static int alloc_batch(OutBatch *b, size_t data_bytes, size_t max) {
  b->data = data_bytes > 0 ? malloc(data_bytes) : NULL;
  b->msgs = calloc(max, sizeof(struct mmsghdr));
  b->iov = calloc(max, sizeof(struct iovec));
  b->addrs = calloc(max, sizeof(struct sockaddr_storage));
  return (data_bytes == 0 || b->data) && b->msgs && b->iov && b->addrs;
}

static void free_sock(Sock *s) {
  free(s->rmsgs);
  free(s->riov);
  free(s->raddrs);
  free_batch(&s->direct, 0);
  for (int i = 0; i < RING; i++) free_batch(&s->ring[i], 1);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->work);
  free(s);
}

/* Sends a batch; returns the replies not sent, and sets *err to why. */
static int32_t send_batch(int fd, OutBatch *b, int *err) {
  int32_t failed = 0;
  uint32_t i = 0;
  while (i < b->n) {
    int r = sendmmsg(fd, b->msgs + i, b->n - i, 0);
    if (r > 0) {
      i += (uint32_t)r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    *err = r < 0 ? errno : EIO;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
      /* The send buffer is full: these replies are dropped (the clients resend). */
      failed += (int32_t)(b->n - i);
      break;
    }
    /* This one reply cannot go (say, EPERM from a firewall); the rest still can. */
    failed++;
    i++;
  }
  return failed;
}

static void *sender_main(void *arg) {
  Sock *s = (Sock *)arg;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (s->head == s->tail && !s->stop) pthread_cond_wait(&s->work, &s->mu);
    if (s->head == s->tail) break; /* stopping, and every queued batch is sent */
    OutBatch *b = &s->ring[s->head % RING];
    pthread_mutex_unlock(&s->mu);
    int err = 0;
    int32_t failed = send_batch(s->fd, b, &err);
    pthread_mutex_lock(&s->mu);
    if (failed > 0) {
      s->async_failed += failed;
      s->async_errno = err;
    }
    s->head++;
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* Lets the sender finish what is queued, then joins it: the descriptor outlives every send. */
static void stop_sender(Sock *s) {
  if (!s->sender_started) return;
  pthread_mutex_lock(&s->mu);
  s->stop = 1;
  pthread_cond_signal(&s->work);
  pthread_mutex_unlock(&s->mu);
  pthread_join(s->sender, NULL);
  s->sender_started = 0;
}

static void release_refs(Sock *s) {
  if (s->on_batch) napi_delete_reference(s->env, s->on_batch);
  s->on_batch = NULL;
  for (int i = 0; i < N_REFS; i++) {
    if (s->refs[i]) napi_delete_reference(s->env, s->refs[i]);
    s->refs[i] = NULL;
  }
  if (s->async_ctx) napi_async_destroy(s->env, s->async_ctx);
  s->async_ctx = NULL;
}

static void on_closed(uv_handle_t *h) {
  Sock *s = (Sock *)h->data;
  /* Here, not in close(): close() may be called from inside the batch callback,
   * while the async context and the callback reference are still in use. */
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env, &scope) == napi_ok) {
    release_refs(s);
    napi_close_handle_scope(s->env, scope);
  }
  close(s->fd);
  s->fd = -1;
  s->closed = 1;
  if (s->finalized) free_sock(s);
}

static void start_close(Sock *s) {
  if (s->closing) return;
  s->closing = 1;
  stop_sender(s);
  if (s->polling) uv_poll_stop(&s->poll);
  s->polling = 0;
  uv_close((uv_handle_t *)&s->poll, on_closed);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Sock *s = (Sock *)data;
  s->finalized = 1;
  /* An open socket is kept (like an unclosed dgram socket) until close(). */
  if (s->closed) free_sock(s);
}

static void write_record(uint8_t *rec, const struct sockaddr_storage *ss) {
  memset(rec, 0, ADDR_RECORD);
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    rec[0] = 4;
    memcpy(rec + 2, &a->sin_port, 2);
    memcpy(rec + 4, &a->sin_addr, 4);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    rec[0] = 6;
    memcpy(rec + 2, &a->sin6_port, 2);
    memcpy(rec + 4, &a->sin6_addr, 16);
  }
}

/* Returns the sockaddr length, or 0 for a record that names no address. */
static socklen_t read_record(const uint8_t *rec, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (rec[0] == 4) {
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    memcpy(&a->sin_port, rec + 2, 2);
    memcpy(&a->sin_addr, rec + 4, 4);
    return sizeof *a;
  }
  if (rec[0] == 6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    memcpy(&a->sin6_port, rec + 2, 2);
    memcpy(&a->sin6_addr, rec + 4, 16);
    return sizeof *a;
  }
  return 0;
}

static void deliver(Sock *s, int32_t n) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[1], result;
  if (napi_get_reference_value(env, s->on_batch, &cb) == napi_ok && cb != NULL) {
    /* napi_make_callback needs an object receiver. */
    napi_get_global(env, &recv);
    napi_create_int32(env, n, &argv[0]);
    napi_status st = napi_make_callback(env, s->async_ctx, recv, cb, 1, argv, &result);
    if (st == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  Sock *s = (Sock *)h->data;
  if (s->closing) return;
  if (status < 0) {
    deliver(s, status);
    return;
  }
  for (int round = 0; round < MAX_ROUNDS && !s->closing; round++) {
    for (uint32_t i = 0; i < s->batch; i++) {
      s->rmsgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
      s->rmsgs[i].msg_hdr.msg_flags = 0;
      s->rmsgs[i].msg_len = 0;
    }
    int n = recvmmsg(s->fd, s->rmsgs, s->batch, MSG_DONTWAIT | MSG_TRUNC, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      s->last_errno = errno;
      deliver(s, -errno);
      break;
    }
    if (n == 0) break;
    for (int i = 0; i < n; i++) {
      s->in_len[i] = (int32_t)s->rmsgs[i].msg_len;
      write_record(s->in_addr + (size_t)i * ADDR_RECORD, &s->raddrs[i]);
    }
    deliver(s, n);
    if ((uint32_t)n < s->batch) break;
  }
}

static Sock *get_sock(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "EINVAL", "not a udp_batch handle");
    return NULL;
  }
  return (Sock *)data;
}

static int get_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length, offset;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &type, &length, data, &ab, &offset) != napi_ok) return 0;
    size_t elem = type == napi_int32_array || type == napi_uint32_array ? 4 : 1;
    *len = length * elem;
    return 1;
  }
  return 0;
}

/*
 * open(family, address, port, rcvbuf, sndbuf, batch, slot,
 *      inData, inLen, inAddr, outData, outMeta, outAddr, onBatch) -> handle
 */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 14;
  napi_value argv[14];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 14) {
    napi_throw_type_error(env, "EINVAL", "open() takes 14 arguments");
    return NULL;
  }
  int32_t family, port, rcvbuf, sndbuf, batch, slot;
  char address[INET6_ADDRSTRLEN + 1];
  size_t address_len;
  CHECK(env, napi_get_value_int32(env, argv[0], &family));
  CHECK(env, napi_get_value_string_utf8(env, argv[1], address, sizeof address, &address_len));
  CHECK(env, napi_get_value_int32(env, argv[2], &port));
  CHECK(env, napi_get_value_int32(env, argv[3], &rcvbuf));
  CHECK(env, napi_get_value_int32(env, argv[4], &sndbuf));
  CHECK(env, napi_get_value_int32(env, argv[5], &batch));
  CHECK(env, napi_get_value_int32(env, argv[6], &slot));
  if ((family != 4 && family != 6) || port < 0 || port > 65535 || batch < 1 || batch > 1024 || slot < 1) {
    napi_throw_range_error(env, "EINVAL", "open(): bad family, port, batch or slot");
    return NULL;
  }

  void *bufs[6];
  size_t lens[6];
  for (int i = 0; i < 6; i++) {
    if (!get_bytes(env, argv[7 + i], &bufs[i], &lens[i])) {
      napi_throw_type_error(env, "EINVAL", "open(): buffers must be typed arrays");
      return NULL;
    }
  }
  size_t out_max = lens[4] / 8;
  if (lens[0] < (size_t)batch * slot || lens[1] < (size_t)batch * 4 || lens[2] < (size_t)batch * ADDR_RECORD ||
      out_max < 1 || lens[5] < out_max * ADDR_RECORD) {
    napi_throw_range_error(env, "EINVAL", "open(): a buffer is too small for the batch");
    return NULL;
  }
  napi_valuetype cbtype;
  CHECK(env, napi_typeof(env, argv[13], &cbtype));
  if (cbtype != napi_function) {
    napi_throw_type_error(env, "EINVAL", "open(): onBatch must be a function");
    return NULL;
  }

  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sslen;
  if (family == 4) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, address, &a->sin_addr) != 1) return throw_errno(env, "bad IPv4 address", EINVAL);
    sslen = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, address, &a->sin6_addr) != 1) return throw_errno(env, "bad IPv6 address", EINVAL);
    sslen = sizeof *a;
  }

  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  /* The kernel may grant less than asked (net.core.rmem_max); the default still works. */
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (bind(fd, (struct sockaddr *)&ss, sslen) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }

  Sock *s = (Sock *)calloc(1, sizeof(Sock));
  if (s == NULL) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM);
  }
  s->env = env;
  s->fd = fd;
  s->batch = (uint32_t)batch;
  s->slot = (uint32_t)slot;
  s->in_data = (uint8_t *)bufs[0];
  s->in_len = (int32_t *)bufs[1];
  s->in_addr = (uint8_t *)bufs[2];
  s->out_data = (uint8_t *)bufs[3];
  s->out_cap = lens[3];
  s->out_meta = (int32_t *)bufs[4];
  s->out_addr = (uint8_t *)bufs[5];
  s->out_max = (uint32_t)out_max;
  s->rmsgs = calloc((size_t)batch, sizeof(struct mmsghdr));
  s->riov = calloc((size_t)batch, sizeof(struct iovec));
  s->raddrs = calloc((size_t)batch, sizeof(struct sockaddr_storage));
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->work, NULL);
  int ok = s->rmsgs && s->riov && s->raddrs && alloc_batch(&s->direct, 0, out_max);
  for (int i = 0; i < RING && ok; i++) ok = alloc_batch(&s->ring[i], s->out_cap, out_max);
  if (!ok) {
    close(fd);
    free_sock(s);
    return throw_errno(env, "malloc", ENOMEM);
  }
  for (int32_t i = 0; i < batch; i++) {
    s->riov[i].iov_base = s->in_data + (size_t)i * (size_t)slot;
    s->riov[i].iov_len = (size_t)slot;
    s->rmsgs[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsgs[i].msg_hdr.msg_iovlen = 1;
    s->rmsgs[i].msg_hdr.msg_name = &s->raddrs[i];
  }
  for (int i = 0; i < 6; i++) napi_create_reference(env, argv[7 + i], 1, &s->refs[i]);
  napi_create_reference(env, argv[13], 1, &s->on_batch);
  napi_value resource_name;
  napi_create_string_utf8(env, "dualkv:udp_batch", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &s->async_ctx);

  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &s->poll, fd) != 0) {
    release_refs(s);
    close(fd);
    free_sock(s);
    napi_throw_error(env, "EINTERNAL", "open(): cannot watch the socket");
    return NULL;
  }
  s->poll.data = s;
  if (uv_poll_start(&s->poll, UV_READABLE, on_readable) != 0) {
    /* Close through libuv: the handle is initialised and must be closed by it (on_closed frees). */
    s->finalized = 1;
    start_close(s);
    napi_throw_error(env, "EINTERNAL", "open(): cannot watch the socket");
    return NULL;
  }
  s->polling = 1;
  /* Without the thread (it could not start), flush() sends every batch itself. */
  s->sender_started = pthread_create(&s->sender, NULL, sender_main, s) == 0;

  napi_value handle;
  if (napi_create_external(env, s, finalize, NULL, &handle) != napi_ok) {
    s->finalized = 1;
    start_close(s);
    napi_throw_error(env, "EINTERNAL", "open(): cannot create the handle");
    return NULL;
  }
  return handle;
}

/*
 * Builds `b` from JS's out buffers: the iovecs point into `data` (a copy, for the
 * sender thread) or straight into out_data (b == &s->direct). Returns the
 * replies refused as malformed.
 */
static int32_t fill_batch(Sock *s, OutBatch *b, int32_t n) {
  int32_t bad = 0;
  uint32_t m = 0;
  size_t end = 0;
  for (int32_t i = 0; i < n; i++) {
    int32_t off = s->out_meta[2 * i];
    int32_t len = s->out_meta[2 * i + 1];
    socklen_t alen = read_record(s->out_addr + (size_t)i * ADDR_RECORD, &b->addrs[m]);
    if (off < 0 || len < 0 || (size_t)off + (size_t)len > s->out_cap || alen == 0) {
      bad++;
      s->last_errno = EINVAL;
      continue;
    }
    if ((size_t)off + (size_t)len > end) end = (size_t)off + (size_t)len;
    b->iov[m].iov_base = (b->data ? b->data : s->out_data) + off;
    b->iov[m].iov_len = (size_t)len;
    b->msgs[m].msg_hdr.msg_name = &b->addrs[m];
    b->msgs[m].msg_hdr.msg_namelen = alen;
    b->msgs[m].msg_hdr.msg_iov = &b->iov[m];
    b->msgs[m].msg_hdr.msg_iovlen = 1;
    m++;
  }
  if (b->data) memcpy(b->data, s->out_data, end);
  b->n = m;
  return bad;
}

/*
 * flush(handle, n) -> replies not sent (0 when all went); lastErrno() says why.
 * The batch is handed to the sender thread; a failure there is reported by a
 * later flush().
 */
static napi_value js_flush(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  int32_t n;
  CHECK(env, napi_get_value_int32(env, argv[1], &n));
  if (n < 0 || (uint32_t)n > s->out_max) {
    napi_throw_range_error(env, "EINVAL", "flush(): count out of range");
    return NULL;
  }
  int32_t failed = 0;
  if (s->closing) {
    failed = n;
    s->last_errno = EBADF;
  } else if (n > 0) {
    OutBatch *b = &s->direct;
    if (s->sender_started) {
      pthread_mutex_lock(&s->mu);
      if (s->async_failed > 0) {
        failed += s->async_failed;
        s->last_errno = s->async_errno;
        s->async_failed = 0;
      }
      /* Slot `tail` is free while fewer than RING batches wait: the sender only reads below tail. */
      if (s->tail - s->head < RING) b = &s->ring[s->tail % RING];
      pthread_mutex_unlock(&s->mu);
    }
    failed += fill_batch(s, b, n);
    if (b == &s->direct) {
      int err = 0;
      int32_t f = send_batch(s->fd, b, &err);
      if (f > 0) {
        failed += f;
        s->last_errno = err;
      }
    } else {
      pthread_mutex_lock(&s->mu);
      s->tail++;
      pthread_cond_signal(&s->work);
      pthread_mutex_unlock(&s->mu);
    }
  }
  napi_value out;
  napi_create_int32(env, failed, &out);
  return out;
}

static napi_value js_last_errno(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  napi_value out;
  char msg[200] = "";
  if (s->last_errno != 0) snprintf(msg, sizeof msg, "%s: %s", uv_err_name(-s->last_errno), strerror(s->last_errno));
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &out);
  return out;
}

/* localPort(handle) -> the bound port. */
static napi_value js_local_port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  if (s->closing) return throw_errno(env, "localPort", EBADF);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(s->fd, (struct sockaddr *)&ss, &len) != 0) return throw_errno(env, "getsockname", errno);
  int port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port) : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  napi_value out;
  napi_create_int32(env, port, &out);
  return out;
}

/* addressString(record: Uint8Array) -> "127.0.0.1" or "::1": used once per new peer, not per datagram. */
static napi_value js_address_string(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data;
  size_t len;
  if (!get_bytes(env, argv[0], &data, &len) || len < ADDR_RECORD) {
    napi_throw_type_error(env, "EINVAL", "addressString(): expected a 20-byte record");
    return NULL;
  }
  const uint8_t *rec = (const uint8_t *)data;
  char text[INET6_ADDRSTRLEN] = "";
  if (rec[0] == 4) inet_ntop(AF_INET, rec + 4, text, sizeof text);
  else if (rec[0] == 6) inet_ntop(AF_INET6, rec + 4, text, sizeof text);
  napi_value out;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &out);
  return out;
}

/* close(handle): stops reading at once; the descriptor is released on the next loop turn. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  start_close(s);
  return NULL;
}

/*
 * HMAC-SHA256 for authenticated datagrams (docs/PROTOCOL.md), two per request. node:crypto's
 * createHmac, and OpenSSL 3's one-shot HMAC(), cost about 2 us a call in set-up alone (most of
 * a datagram's budget); a key's padded inner and outer SHA-256 states are computed once here
 * (hmacKey) and copied per message, which leaves the five compression rounds of the hash.
 */
typedef struct {
  SHA256_CTX inner;
  SHA256_CTX outer;
} HmacKey;

/* hmacKey(key): the key's prepared states, as a Buffer to pass to hmacSha256. */
static napi_value js_hmac_key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *key;
  size_t key_len;
  CHECK(env, napi_get_buffer_info(env, argv[0], &key, &key_len));
  unsigned char block[64];
  unsigned char hashed[32];
  memset(block, 0, sizeof block);
  if (key_len > sizeof block) {
    SHA256(key, key_len, hashed);
    memcpy(block, hashed, sizeof hashed);
  } else {
    memcpy(block, key, key_len);
  }
  napi_value out;
  void *data;
  CHECK(env, napi_create_buffer(env, sizeof(HmacKey), &data, &out));
  HmacKey *k = data;
  unsigned char pad[64];
  for (size_t i = 0; i < sizeof pad; i++) pad[i] = block[i] ^ 0x36;
  SHA256_Init(&k->inner);
  SHA256_Update(&k->inner, pad, sizeof pad);
  for (size_t i = 0; i < sizeof pad; i++) pad[i] = block[i] ^ 0x5c;
  SHA256_Init(&k->outer);
  SHA256_Update(&k->outer, pad, sizeof pad);
  return out;
}

/* hmacSha256(preparedKey, data, dataLength, out, outOffset, outLength): the MAC's first outLength bytes into out at outOffset. */
static napi_value js_hmac_sha256(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *key, *data, *out;
  size_t key_len, data_cap, out_cap;
  uint32_t data_len, out_off, out_len;
  CHECK(env, napi_get_buffer_info(env, argv[0], &key, &key_len));
  CHECK(env, napi_get_buffer_info(env, argv[1], &data, &data_cap));
  CHECK(env, napi_get_value_uint32(env, argv[2], &data_len));
  CHECK(env, napi_get_buffer_info(env, argv[3], &out, &out_cap));
  CHECK(env, napi_get_value_uint32(env, argv[4], &out_off));
  CHECK(env, napi_get_value_uint32(env, argv[5], &out_len));
  if (key_len != sizeof(HmacKey) || data_len > data_cap || out_len > 32 || (size_t)out_off + out_len > out_cap) {
    napi_throw_range_error(env, "ERANGE", "hmacSha256: not a prepared key, or a length or offset outside its buffer");
    return NULL;
  }
  HmacKey *k = key;
  SHA256_CTX ctx = k->inner;
  unsigned char inner[32], mac[32];
  SHA256_Update(&ctx, data, data_len);
  SHA256_Final(inner, &ctx);
  ctx = k->outer;
  SHA256_Update(&ctx, inner, sizeof inner);
  SHA256_Final(mac, &ctx);
  memcpy((unsigned char *)out + out_off, mac, out_len);
  return NULL;
}

/*
 * The two calls of the datagram hot path, with the MAC field's place given rather than a copy:
 * the HMAC covers data[0, length) with the 16 bytes at macAt taken as zero (docs/PROTOCOL.md
 * "Authenticated datagrams"), hashed in three pieces so the datagram is never changed.
 */
#define DATAGRAM_MAC_SIZE 16

static int mac_args(napi_env env, napi_callback_info info, HmacKey **k, unsigned char **data, uint32_t *len, uint32_t *mac_at) {
  size_t argc = 4;
  napi_value argv[4];
  void *key, *buf;
  size_t key_len, cap;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) goto bad;
  if (napi_get_buffer_info(env, argv[0], &key, &key_len) != napi_ok) goto bad;
  if (napi_get_buffer_info(env, argv[1], &buf, &cap) != napi_ok) goto bad;
  if (napi_get_value_uint32(env, argv[2], len) != napi_ok) goto bad;
  if (napi_get_value_uint32(env, argv[3], mac_at) != napi_ok) goto bad;
  if (key_len != sizeof(HmacKey) || *len > cap || (size_t)*mac_at + DATAGRAM_MAC_SIZE > *len) goto bad;
  *k = key;
  *data = buf;
  return 1;
bad:
  napi_throw_range_error(env, "ERANGE", "hmacVerify/hmacSign(preparedKey, data, length, macAt): not a prepared key, or a MAC field outside data[0, length)");
  return 0;
}

static void datagram_mac(const HmacKey *k, const unsigned char *data, uint32_t len, uint32_t mac_at, unsigned char mac[32]) {
  static const unsigned char zeros[DATAGRAM_MAC_SIZE] = {0};
  SHA256_CTX ctx = k->inner;
  unsigned char inner[32];
  SHA256_Update(&ctx, data, mac_at);
  SHA256_Update(&ctx, zeros, sizeof zeros);
  SHA256_Update(&ctx, data + mac_at + DATAGRAM_MAC_SIZE, len - mac_at - DATAGRAM_MAC_SIZE);
  SHA256_Final(inner, &ctx);
  ctx = k->outer;
  SHA256_Update(&ctx, inner, sizeof inner);
  SHA256_Final(mac, &ctx);
}

/* The arguments of hmacVerify/hmacSign, checked, and the datagram's MAC; 0 (with a RangeError thrown) when they are wrong. */
static int mac_of_call(napi_env env, napi_callback_info info, unsigned char mac[32], unsigned char **data, uint32_t *mac_at) {
  HmacKey *k;
  uint32_t len;
  if (!mac_args(env, info, &k, data, &len, mac_at)) return 0;
  datagram_mac(k, *data, len, *mac_at, mac);
  return 1;
}

/* hmacVerify(preparedKey, data, length, macAt): true when the 16 bytes at macAt are the datagram's MAC; compared in constant time. */
static napi_value js_hmac_verify(napi_env env, napi_callback_info info) {
  unsigned char mac[32], *data;
  uint32_t mac_at;
  if (!mac_of_call(env, info, mac, &data, &mac_at)) return NULL;
  unsigned char diff = 0;
  for (int i = 0; i < DATAGRAM_MAC_SIZE; i++) diff |= mac[i] ^ data[mac_at + i];
  napi_value out;
  napi_get_boolean(env, diff == 0, &out);
  return out;
}

/* hmacSign(preparedKey, data, length, macAt): writes the datagram's MAC into its 16 bytes at macAt. */
static napi_value js_hmac_sign(napi_env env, napi_callback_info info) {
  unsigned char mac[32], *data;
  uint32_t mac_at;
  if (!mac_of_call(env, info, mac, &data, &mac_at)) return NULL;
  memcpy(data + mac_at, mac, DATAGRAM_MAC_SIZE);
  return NULL;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"flush", NULL, js_flush, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lastErrno", NULL, js_last_errno, NULL, NULL, NULL, napi_enumerable, NULL},
      {"localPort", NULL, js_local_port, NULL, NULL, NULL, napi_enumerable, NULL},
      {"addressString", NULL, js_address_string, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hmacKey", NULL, js_hmac_key, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hmacSha256", NULL, js_hmac_sha256, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hmacVerify", NULL, js_hmac_verify, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hmacSign", NULL, js_hmac_sign, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_value v;
  napi_create_int32(env, ADDR_RECORD, &v);
  napi_set_named_property(env, exports, "ADDR_RECORD", v);
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
