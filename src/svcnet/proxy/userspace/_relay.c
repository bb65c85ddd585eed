/*
 * svcnet.proxy.userspace._relay -- the TCP relay's byte loop, compiled.
 *
 * Why this exists
 * ---------------
 * Everything that decides something stays in Python: accepting, picking the endpoint,
 * dialling with retry, affinity, counters. Once both sockets of a session are connected,
 * the rest is a loop of read()+write() (or splice()) driven by epoll, and there the
 * interpreter's per-event cost (~2 us: bytecodes, a bytes object per read, the GIL around
 * each syscall) was what separated the pure-Python relay from HAProxy (docs/benchmarks.md).
 * This module runs that loop in C with the same semantics as the Python pumps in tcp.py,
 * which remain the engine when this module could not be built.
 *
 * Theory of operation
 * -------------------
 * A Relay owns one epoll set. The asyncio loop watches its fd (one add_reader); when it is
 * readable, Python calls run(), which fetches events with a zero timeout and moves bytes
 * for every ready socket, holding the GIL throughout (each syscall is non-blocking, so
 * there is nothing to gain by releasing it).
 *
 * add(cfd, bfd, token) hands over a connected client/backend pair: the relay owns both fds
 * from then on and closes them. Each session has two pumps (client->backend and
 * backend->client) with the Python pumps' rules:
 *   - recv()/send(), not read()/write(): the socket calls skip the VFS layer (~3% of the
 *     kernel time per relayed message);
 *   - read once per edge: a short read drains a TCP socket; a full read reads on (up to a
 *     budget per event, then the pump waits on the ready list for the next run());
 *   - back-pressure: what the destination cannot take is kept (one chunk at most) and the
 *     pump ignores its source until the destination is writable (EPOLLOUT edge);
 *   - a direction that fills a whole chunk is a stream: with splice "auto" it switches to
 *     splice(2) through a pipe (zero copy) from then on;
 *   - EOF is passed on as shutdown(SHUT_WR) once flushed (half-close); when both directions
 *     have ended both sockets are closed. EPOLLRDHUP is remembered so a FIN queued behind
 *     data is not lost. A reset or error on either side resets both (SO_LINGER 0).
 * A finished session is reported by the next run() (or by abort()/abort_all()) as
 * (token, bytes_in, bytes_out, errno) -- bytes not yet reported by collect() -- and the
 * token is released.
 *
 * Sessions closed while a batch of events is dispatched are freed after the batch: a later
 * event of the same batch may still point at them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 256
/* reads (or splices) per pump per event before it yields to the other sessions */
#define READ_BUDGET 16
#define PIPE_POOL_MAX 64

enum { SPLICE_NEVER = 0, SPLICE_AUTO = 1, SPLICE_ALWAYS = 2 };

typedef struct session session;

typedef struct pump {
    struct pump *rnext, *rprev; /* the ready list (intrusive, circular) */
    session *s;
    int src, dst;
    char *pending; /* bytes the destination could not take yet */
    size_t plen, poff;
    int pr, pw; /* the splice pipe, -1 when none */
    size_t inpipe;
    unsigned splice : 1, blocked : 1, eof : 1, done : 1, rdhup : 1, urg : 1;
    unsigned long long nbytes, reported;
} pump;

/* epoll's data.ptr: one per socket of a session */
typedef struct end {
    session *s;
    int backend;
} end;

struct session {
    end ce, be;
    pump c2b, b2c;
    int cfd, bfd;
    int closed;
    PyObject *token;
    session *next, *prev; /* all live sessions */
    session *dnext;       /* freed after the batch */
};

typedef struct {
    PyObject_HEAD
    int ep;
    int wake; /* eventfd in the set: armed when work is left for the next run() */
    int closed;
    int splice_mode;
    size_t chunk;
    size_t pipe_size;
    char *buf;
    int quiet; /* ending sessions without records (the relay is being collected) */
    int busy; /* inside run()/add()/abort()/collect(): Python code run meanwhile must not re-enter */
    Py_ssize_t count;
    session all;    /* sentinel of the live list */
    pump ready;     /* sentinel of the ready list */
    session *deferred;
    session **byfd; /* client fd -> session */
    int nbyfd;
    int pipes[PIPE_POOL_MAX][2];
    int npipes;
    PyObject *done; /* list of finished records, or NULL */
} Relay;

/* ---------------------------------------------------------------- ready list */

static void ready_unlink(pump *p) {
    if (p->rnext) {
        p->rnext->rprev = p->rprev;
        p->rprev->rnext = p->rnext;
        p->rnext = p->rprev = NULL;
    }
}

static void ready_push(Relay *r, pump *p) {
    if (p->rnext)
        return;
    p->rprev = r->ready.rprev;
    p->rnext = &r->ready;
    r->ready.rprev->rnext = p;
    r->ready.rprev = p;
}

static void wake(Relay *r) {
    uint64_t one = 1;
    ssize_t n = write(r->wake, &one, sizeof one);
    (void)n;
}

/* ---------------------------------------------------------------- pipes */

static int pipe_get(Relay *r, pump *p) {
    int fds[2];
    if (r->npipes) {
        r->npipes--;
        p->pr = r->pipes[r->npipes][0];
        p->pw = r->pipes[r->npipes][1];
        return 0;
    }
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
        return -1;
    (void)fcntl(fds[1], F_SETPIPE_SZ, (int)r->pipe_size); /* capped by fs.pipe-max-size */
    p->pr = fds[0];
    p->pw = fds[1];
    return 0;
}

static void pipe_put(Relay *r, pump *p) {
    if (p->pr < 0)
        return;
    if (!p->inpipe && r->npipes < PIPE_POOL_MAX && !r->closed) {
        r->pipes[r->npipes][0] = p->pr;
        r->pipes[r->npipes][1] = p->pw;
        r->npipes++;
    } else {
        close(p->pr);
        close(p->pw);
    }
    p->pr = p->pw = -1;
}

/* ---------------------------------------------------------------- session end */

static void session_free(session *s) {
    Py_XDECREF(s->token);
    PyMem_Free(s);
}

static void finish(Relay *r, session *s, int err) {
    pump *ps[2] = {&s->c2b, &s->b2c};
    PyObject *rec;
    s->closed = 1;
    for (int i = 0; i < 2; i++) {
        ready_unlink(ps[i]);
        pipe_put(r, ps[i]);
        PyMem_Free(ps[i]->pending);
        ps[i]->pending = NULL;
    }
    /* an epoll item lives as long as its open file: a forked child or a dup of the fd would
     * keep it, pointing at this session once freed. Remove it explicitly. */
    epoll_ctl(r->ep, EPOLL_CTL_DEL, s->cfd, NULL);
    epoll_ctl(r->ep, EPOLL_CTL_DEL, s->bfd, NULL);
    close(s->cfd);
    close(s->bfd);
    if (s->cfd < r->nbyfd && r->byfd[s->cfd] == s)
        r->byfd[s->cfd] = NULL;
    s->next->prev = s->prev;
    s->prev->next = s->next;
    r->count--;
    if (!r->quiet) {
        rec = Py_BuildValue("(OKKi)", s->token, s->c2b.nbytes - s->c2b.reported, s->b2c.nbytes - s->b2c.reported, err);
        if (rec == NULL || (r->done == NULL && (r->done = PyList_New(0)) == NULL) || PyList_Append(r->done, rec) < 0)
            PyErr_WriteUnraisable(s->token); /* out of memory: the record is lost, not the relay */
        Py_XDECREF(rec);
    }
    if (r->busy) {
        s->dnext = r->deferred;
        r->deferred = s;
    } else {
        session_free(s);
    }
}

static void session_close(Relay *r, session *s) { finish(r, s, 0); }

/* make the coming close() send an RST */
static void linger0(int fd) {
    static const struct linger l0 = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l0, sizeof l0);
}

static void session_abort(Relay *r, session *s, int err) {
    if (s->closed)
        return;
    linger0(s->cfd);
    linger0(s->bfd);
    finish(r, s, err);
}

/* ---------------------------------------------------------------- pumps */

static void pump_read(Relay *r, pump *p);

static void pump_shut(Relay *r, pump *p) {
    session *s = p->s;
    pump *other = p == &s->c2b ? &s->b2c : &s->c2b;
    p->done = 1;
    if (other->done)
        session_close(r, s);
    else
        shutdown(p->dst, SHUT_WR);
}

static void pump_eof(Relay *r, pump *p) {
    p->eof = 1;
    if (!p->blocked)
        pump_shut(r, p);
}

/* write buf[0:n] to dst; keep what does not fit. 0: all written or kept, -1: aborted */
static int pump_write(Relay *r, pump *p, const char *buf, size_t n) {
    ssize_t m;
    do
        m = send(p->dst, buf, n, MSG_NOSIGNAL);
    while (m < 0 && errno == EINTR);
    if (m < 0) {
        if (errno != EAGAIN) {
            session_abort(r, p->s, errno);
            return -1;
        }
        m = 0;
    }
    if ((size_t)m < n) {
        p->pending = PyMem_Malloc(n - m);
        if (p->pending == NULL) {
            session_abort(r, p->s, ENOMEM);
            return -1;
        }
        memcpy(p->pending, buf + m, n - m);
        p->plen = n - m;
        p->poff = 0;
        p->blocked = 1;
    }
    return 0;
}

/* move the pipe's bytes to dst. 0: empty, 1: dst full (blocked), -1: aborted */
static int pipe_flush(Relay *r, pump *p) {
    while (p->inpipe) {
        ssize_t m = splice(p->pr, NULL, p->dst, NULL, p->inpipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (m < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                p->blocked = 1;
                return 1;
            }
            session_abort(r, p->s, errno);
            return -1;
        }
        p->inpipe -= (size_t)m;
    }
    return 0;
}

static void pump_splice(Relay *r, pump *p) {
    session *s = p->s;
    if (p->pr < 0 && pipe_get(r, p) < 0) {
        session_abort(r, s, errno);
        return;
    }
    for (int i = 0; i < READ_BUDGET; i++) {
        ssize_t n = splice(p->src, NULL, p->pw, NULL, r->pipe_size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                session_abort(r, s, errno);
            return;
        }
        if (n == 0) {
            /* the EOF -- or an urgent mark that arrived meanwhile, where splice stops too:
             * read() tells them apart (and steps over the mark) */
            p->urg = 1;
            pump_read(r, p);
            return;
        }
        p->nbytes += (size_t)n;
        p->inpipe += (size_t)n;
        if (pipe_flush(r, p))
            return; /* blocked or aborted */
    }
    ready_push(r, p);
}

static void pump_read(Relay *r, pump *p) {
    session *s = p->s;
    if (p->blocked || p->eof || s->closed)
        return;
    if (p->splice && !p->urg) { /* splice stops at an urgent mark; read() steps over it */
        pump_splice(r, p);
        return;
    }
    for (int i = 0; i < READ_BUDGET; i++) {
        ssize_t n = recv(p->src, r->buf, r->chunk, 0);
        if (n < 0) {
            if (errno == EINTR) {
                i--;
                continue;
            }
            if (errno == EAGAIN)
                p->urg = 0;
            else
                session_abort(r, s, errno);
            return;
        }
        if (n == 0) {
            pump_eof(r, p);
            return;
        }
        p->nbytes += (size_t)n;
        if (pump_write(r, p, r->buf, (size_t)n) < 0)
            return;
        if (p->blocked)
            return; /* unblocking reads on */
        if ((size_t)n < r->chunk) {
            /* A short read drains a TCP socket -- unless it stopped at an urgent mark
             * (MSG_OOB; EPOLLPRI said urgent data was there): then read on to EAGAIN, as no
             * new edge will come. Drained with the FIN seen queued (EPOLLRDHUP; an urgent
             * byte would have come with EPOLLPRI in the same mask), the EOF is next. */
            if (p->urg)
                continue;
            if (p->rdhup)
                pump_eof(r, p);
            return;
        }
        if (r->splice_mode == SPLICE_AUTO) {
            p->splice = 1; /* a stream: zero copy from now on */
            if (!p->urg) {
                pump_splice(r, p);
                return;
            }
        }
    }
    ready_push(r, p);
}

/* dst became writable: flush what was kept, then read on (no new edge comes for bytes that
 * arrived while blocked) or pass the EOF on */
static void pump_unblock(Relay *r, pump *p) {
    session *s = p->s;
    if (!p->blocked || s->closed)
        return;
    while (p->poff < p->plen) {
        ssize_t m = send(p->dst, p->pending + p->poff, p->plen - p->poff, MSG_NOSIGNAL);
        if (m < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                session_abort(r, s, errno);
            return;
        }
        p->poff += (size_t)m;
    }
    PyMem_Free(p->pending);
    p->pending = NULL;
    p->plen = p->poff = 0;
    p->blocked = 0;
    if (p->inpipe && pipe_flush(r, p))
        return; /* blocked again, or aborted */
    if (p->eof)
        pump_shut(r, p);
    else
        pump_read(r, p);
}

static void on_event(Relay *r, end *e, uint32_t ev) {
    session *s = e->s;
    pump *rp, *wp;
    if (s->closed)
        return;
    rp = e->backend ? &s->b2c : &s->c2b; /* reads this socket */
    wp = e->backend ? &s->c2b : &s->b2c; /* writes to it */
    if (ev & EPOLLERR) {
        /* a reset (or other error) on this socket ends the session even when no pump would
         * read or write it now (blocked, or after its EOF); bytes queued before it are
         * passed on first (the read returns them, then the error) */
        int err = 0;
        if (!rp->blocked && !rp->eof) {
            rp->urg = 1; /* read to the error, not just once */
            pump_read(r, rp);
            if (s->closed)
                return;
        }
        socklen_t len = sizeof err;
        if (getsockopt(e->backend ? s->bfd : s->cfd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || !err)
            err = ECONNRESET;
        session_abort(r, s, err);
        return;
    }
    if (ev & EPOLLRDHUP)
        rp->rdhup = 1;
    if (ev & EPOLLPRI)
        rp->urg = 1;
    if (ev & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP))
        pump_read(r, rp);
    if (!s->closed && wp->blocked && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        pump_unblock(r, wp);
}

static void run_ready(Relay *r) {
    pump local;
    if (r->ready.rnext == &r->ready)
        return;
    /* take the list: pumps that run out of budget again wait for the next run() */
    local.rnext = r->ready.rnext;
    local.rprev = r->ready.rprev;
    local.rnext->rprev = &local;
    local.rprev->rnext = &local;
    r->ready.rnext = r->ready.rprev = &r->ready;
    while (local.rnext != &local) {
        pump *p = local.rnext;
        ready_unlink(p);
        pump_read(r, p);
    }
}

static void free_deferred(Relay *r) {
    while (r->deferred) {
        session *s = r->deferred;
        r->deferred = s->dnext;
        session_free(s);
    }
}

static PyObject *take_done(Relay *r) {
    PyObject *d = r->done;
    r->done = NULL;
    if (d == NULL)
        Py_RETURN_NONE;
    return d;
}

/* Methods that move bytes or end sessions run "busy": finish() allocates the records, an
 * allocation may run the cyclic GC, and a finalizer is Python code that could call back into
 * the relay while a batch still points at sessions. Such calls are refused. */
static int enter(Relay *r) {
    if (r->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Relay called from inside one of its own calls");
        return -1;
    }
    r->busy = 1;
    return 0;
}

static void leave(Relay *r) {
    r->busy = 0;
    free_deferred(r);
}

/* ---------------------------------------------------------------- Python methods */

static int relay_init(Relay *r, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"chunk", "splice", "pipe_size", NULL};
    Py_ssize_t chunk = 65536, pipe_size = 1 << 20;
    int splice_mode = SPLICE_AUTO;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|nin", kwlist, &chunk, &splice_mode, &pipe_size))
        return -1;
    if (chunk < 1024 || pipe_size < 4096 || splice_mode < 0 || splice_mode > 2) {
        PyErr_SetString(PyExc_ValueError, "chunk >= 1024, pipe_size >= 4096, splice in 0..2");
        return -1;
    }
    if (r->ep >= 0) {
        PyErr_SetString(PyExc_RuntimeError, "Relay already initialised");
        return -1;
    }
    r->chunk = (size_t)chunk;
    r->pipe_size = (size_t)pipe_size;
    r->splice_mode = splice_mode;
    r->buf = PyMem_Malloc(r->chunk);
    if (r->buf == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    r->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->ep < 0 || r->wake < 0 || epoll_ctl(r->ep, EPOLL_CTL_ADD, r->wake, &ev) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

static PyObject *relay_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    Relay *r = (Relay *)type->tp_alloc(type, 0);
    if (r == NULL)
        return NULL;
    r->ep = r->wake = -1;
    r->all.next = r->all.prev = &r->all;
    r->ready.rnext = r->ready.rprev = &r->ready;
    return (PyObject *)r;
}

static void pump_init(pump *p, session *s, int src, int dst, int splice) {
    memset(p, 0, sizeof *p);
    p->s = s;
    p->src = src;
    p->dst = dst;
    p->pr = p->pw = -1;
    p->splice = splice ? 1 : 0;
}

/* the fd -> session table grows to the highest client fd seen; fds beyond this are refused */
#define MAX_FD (1 << 24)

static int byfd_set(Relay *r, int fd, session *s) {
    if (fd >= MAX_FD)
        return -1;
    if (fd >= r->nbyfd) {
        int n = r->nbyfd ? r->nbyfd : 1024;
        session **t;
        while (n <= fd)
            n *= 2; /* <= 2 * MAX_FD: no overflow */
        t = PyMem_Realloc(r->byfd, (size_t)n * sizeof *t);
        if (t == NULL)
            return -1;
        memset(t + r->nbyfd, 0, (size_t)(n - r->nbyfd) * sizeof *t);
        r->byfd = t;
        r->nbyfd = n;
    }
    r->byfd[fd] = s;
    return 0;
}

/* add() could not take the session: reset both sockets, report it ended with err */
static PyObject *refuse(int cfd, int bfd, PyObject *token, int err) {
    linger0(cfd);
    linger0(bfd);
    close(cfd);
    close(bfd);
    return Py_BuildValue("[(OKKi)]", token, 0ULL, 0ULL, err);
}

static PyObject *relay_add(Relay *r, PyObject *args) {
    int cfd, bfd;
    PyObject *token;
    session *s;
    struct epoll_event ev;
    if (!PyArg_ParseTuple(args, "iiO", &cfd, &bfd, &token))
        return NULL;
    if (cfd < 0 || bfd < 0 || cfd == bfd) {
        PyErr_SetString(PyExc_ValueError, "add() needs two different open fds");
        return NULL;
    }
    /* from here on the relay owns the fds: whatever happens, they are closed and the
     * session is reported ended, never left to the caller */
    if (r->closed)
        return refuse(cfd, bfd, token, EBADF);
    if (r->busy) /* called back from inside a call of this relay */
        return refuse(cfd, bfd, token, EBUSY);
    s = PyMem_Calloc(1, sizeof *s);
    if (s == NULL || byfd_set(r, cfd, s) < 0) {
        PyMem_Free(s);
        return refuse(cfd, bfd, token, cfd >= MAX_FD ? EMFILE : ENOMEM);
    }
    s->cfd = cfd;
    s->bfd = bfd;
    s->ce.s = s->be.s = s;
    s->be.backend = 1;
    Py_INCREF(token);
    s->token = token;
    pump_init(&s->c2b, s, cfd, bfd, r->splice_mode == SPLICE_ALWAYS);
    pump_init(&s->b2c, s, bfd, cfd, r->splice_mode == SPLICE_ALWAYS);
    s->next = &r->all;
    s->prev = r->all.prev;
    r->all.prev->next = s;
    r->all.prev = s;
    r->count++;
    r->busy = 1;
    ev.events = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = &s->ce;
    if (epoll_ctl(r->ep, EPOLL_CTL_ADD, cfd, &ev) < 0) {
        session_abort(r, s, errno);
    } else {
        ev.data.ptr = &s->be;
        if (epoll_ctl(r->ep, EPOLL_CTL_ADD, bfd, &ev) < 0)
            session_abort(r, s, errno);
    }
    /* the client has usually sent its request by now: forward it at once rather than a loop
     * iteration later (registered first, so bytes arriving after this read raise an edge) */
    if (!s->closed)
        pump_read(r, &s->c2b);
    leave(r);
    return take_done(r);
}

static PyObject *relay_run(Relay *r, PyObject *unused) {
    struct epoll_event evs[MAX_EVENTS];
    int n;
    if (r->closed)
        Py_RETURN_NONE;
    if (enter(r) < 0)
        return NULL;
    do
        n = epoll_wait(r->ep, evs, MAX_EVENTS, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        leave(r);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    for (int i = 0; i < n; i++) {
        end *e = evs[i].data.ptr;
        if (e == NULL) {
            uint64_t v;
            ssize_t k = read(r->wake, &v, sizeof v);
            (void)k;
            continue;
        }
        on_event(r, e, evs[i].events);
    }
    run_ready(r);
    leave(r);
    if (r->ready.rnext != &r->ready)
        wake(r);
    return take_done(r);
}

static PyObject *relay_collect(Relay *r, PyObject *unused) {
    PyObject *out;
    if (enter(r) < 0)
        return NULL;
    out = PyList_New(0);
    for (session *s = r->all.next; out != NULL && s != &r->all; s = s->next) {
        PyObject *rec;
        if (s->c2b.nbytes == s->c2b.reported && s->b2c.nbytes == s->b2c.reported)
            continue;
        rec = Py_BuildValue("(OKK)", s->token, s->c2b.nbytes - s->c2b.reported, s->b2c.nbytes - s->b2c.reported);
        if (rec == NULL || PyList_Append(out, rec) < 0)
            Py_CLEAR(out);
        Py_XDECREF(rec);
    }
    if (out != NULL) /* reported only once the whole list exists: a failure loses no bytes */
        for (session *s = r->all.next; s != &r->all; s = s->next) {
            s->c2b.reported = s->c2b.nbytes;
            s->b2c.reported = s->b2c.nbytes;
        }
    leave(r);
    return out;
}

static PyObject *relay_abort(Relay *r, PyObject *args) {
    int cfd;
    PyObject *token;
    if (!PyArg_ParseTuple(args, "iO", &cfd, &token) || enter(r) < 0)
        return NULL;
    /* the token too: an fd number is reused once its session has ended */
    if (cfd >= 0 && cfd < r->nbyfd && r->byfd[cfd] != NULL && r->byfd[cfd]->token == token)
        session_abort(r, r->byfd[cfd], 0);
    leave(r);
    return take_done(r);
}

static void abort_all(Relay *r) {
    while (r->all.next != &r->all)
        session_abort(r, r->all.next, 0);
}

static PyObject *relay_abort_all(Relay *r, PyObject *unused) {
    if (enter(r) < 0)
        return NULL;
    abort_all(r);
    leave(r);
    return take_done(r);
}

static void relay_release(Relay *r) {
    abort_all(r);
    r->closed = 1;
    while (r->npipes) {
        r->npipes--;
        close(r->pipes[r->npipes][0]);
        close(r->pipes[r->npipes][1]);
    }
    if (r->ep >= 0)
        close(r->ep);
    if (r->wake >= 0)
        close(r->wake);
    r->ep = r->wake = -1;
    PyMem_Free(r->buf);
    r->buf = NULL;
    PyMem_Free(r->byfd);
    r->byfd = NULL;
    r->nbyfd = 0;
}

static PyObject *relay_close(Relay *r, PyObject *unused) {
    if (!r->closed) {
        if (enter(r) < 0)
            return NULL;
        relay_release(r);
        leave(r);
    }
    return take_done(r);
}

static PyObject *relay_fileno(Relay *r, PyObject *unused) {
    if (r->ep < 0) {
        PyErr_SetString(PyExc_ValueError, "Relay is closed");
        return NULL;
    }
    return PyLong_FromLong(r->ep);
}

static PyObject *relay_get_closed(Relay *r, void *unused) { return PyBool_FromLong(r->closed); }

static Py_ssize_t relay_len(Relay *r) { return r->count; }

/* The GC sees the tokens: a token (the Python session) may refer back to the relay, and such
 * a cycle must be collectable -- collecting it resets the sessions and closes their fds. */
static int relay_traverse(Relay *r, visitproc visit, void *arg) {
    for (session *s = r->all.next; s != &r->all; s = s->next)
        Py_VISIT(s->token);
    Py_VISIT(r->done);
    return 0;
}

static int relay_clear(Relay *r) {
    if (!r->closed) {
        r->quiet = 1; /* no records: nobody is left to read them */
        relay_release(r);
        free_deferred(r);
    }
    Py_CLEAR(r->done);
    return 0;
}

static void relay_dealloc(Relay *r) {
    PyObject_GC_UnTrack(r);
    relay_clear(r);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyMethodDef relay_methods[] = {
    {"add", (PyCFunction)relay_add, METH_VARARGS,
     "add(cfd, bfd, token) -> records | None: relay between a connected client and backend socket; the relay owns both fds"},
    {"run", (PyCFunction)relay_run, METH_NOARGS,
     "run() -> [(token, bytes_in, bytes_out, errno)] | None: move bytes for every ready socket; sessions that ended"},
    {"collect", (PyCFunction)relay_collect, METH_NOARGS,
     "collect() -> [(token, bytes_in, bytes_out)]: bytes relayed since the last report, per live session"},
    {"abort", (PyCFunction)relay_abort, METH_VARARGS,
     "abort(cfd, token) -> records | None: reset the session of client fd cfd, if it is token's"},
    {"abort_all", (PyCFunction)relay_abort_all, METH_NOARGS, "abort_all() -> records | None: reset every session"},
    {"close", (PyCFunction)relay_close, METH_NOARGS, "close() -> records | None: reset every session, free everything"},
    {"fileno", (PyCFunction)relay_fileno, METH_NOARGS, "the epoll fd to watch for readability"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef relay_getset[] = {
    {"closed", (getter)relay_get_closed, NULL, "True after close()", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods relay_as_sequence = {.sq_length = (lenfunc)relay_len};

static PyTypeObject RelayType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "svcnet.proxy.userspace._relay.Relay",
    .tp_basicsize = sizeof(Relay),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)relay_traverse,
    .tp_clear = (inquiry)relay_clear,
    .tp_doc = "Relay(chunk=65536, splice=1, pipe_size=1<<20): the compiled TCP byte loop (see tcp.py)",
    .tp_new = relay_new,
    .tp_init = (initproc)relay_init,
    .tp_dealloc = (destructor)relay_dealloc,
    .tp_methods = relay_methods,
    .tp_getset = relay_getset,
    .tp_as_sequence = &relay_as_sequence,
};

/* accept(listen_fd) -> (fd, host, port) | None: accept4() with SOCK_NONBLOCK. Python's
 * socket.accept() + setblocking(False) makes two more syscalls per connection (an ioctl, and
 * a getsockname when the socket object validates the fd); a session for the relay needs only
 * the fd and the client's address. None: nothing to accept (EAGAIN). */
static PyObject *mod_accept(PyObject *m, PyObject *arg) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "";
    int port = 0, fd;
    long lfd = PyLong_AsLong(arg);
    if (lfd == -1 && PyErr_Occurred())
        return NULL;
    do
        fd = accept4((int)lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        if (errno == EAGAIN)
            Py_RETURN_NONE;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    return Py_BuildValue("(isi)", fd, host, port);
}

/* reset(fd): close fd with an RST (SO_LINGER 0) */
static PyObject *mod_reset(PyObject *m, PyObject *arg) {
    long fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred())
        return NULL;
    linger0((int)fd);
    close((int)fd);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"accept", mod_accept, METH_O, "accept(listen_fd) -> (fd, host, port) | None: accept4 with SOCK_NONBLOCK"},
    {"reset", mod_reset, METH_O, "reset(fd): close fd with an RST (SO_LINGER 0)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef relay_module = {
    PyModuleDef_HEAD_INIT, "_relay", "The TCP relay's byte loop in C (see _relay.c).", -1, module_methods,
};

PyMODINIT_FUNC PyInit__relay(void) {
    PyObject *m;
    if (PyType_Ready(&RelayType) < 0)
        return NULL;
    m = PyModule_Create(&relay_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&RelayType);
    if (PyModule_AddObject(m, "Relay", (PyObject *)&RelayType) < 0) {
        Py_DECREF(&RelayType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "SPLICE_NEVER", SPLICE_NEVER);
    PyModule_AddIntConstant(m, "SPLICE_AUTO", SPLICE_AUTO);
    PyModule_AddIntConstant(m, "SPLICE_ALWAYS", SPLICE_ALWAYS);
    return m;
}
