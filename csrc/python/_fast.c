/*
 * fastsig._fast: the per-call hot paths as CPython builtins.
 *
 * Why: a Python wrapper that validates its arguments, then a cffi call, then
 * a Python unpacking of the result costs 1.3-6x what the stdlib's C functions
 * cost for the same call (argument tuple, generic conversions, a frame per
 * layer). Here the common cases run in C from argument to result: ints,
 * signal.Signals members, names already parsed, and sets, frozensets, lists
 * and tuples of them. Every other argument, and every failure, is handed to
 * the checked Python implementation (or to the Python function that builds
 * the exception), so errors are raised by one piece of code and read the same.
 *
 * The core is not compiled in here: setup() receives the address of the cffi
 * module's fs_api table (csrc/fastsig.h) and everything this module needs from
 * Python (the SigInfo type, the Signals members by number, the checked
 * functions). Built against the limited API (one abi3 module for 3.9+), but
 * with METH_FASTCALL: the stable ABI has it from 3.10 on, and CPython has
 * implemented it with the same flag and calling convention since 3.7.
 *
 * Shared state, and how it is protected (free-threaded builds included):
 * - the globals below are written once, by setup(), which the Python layer
 *   calls while importing fastsig._ops (under the import lock) before it
 *   publishes any function of this module; a second call raises. After that
 *   they are only read, and hold strong references for the process' life.
 * - the names dict (fastsig._names.NAME_CACHE) is only read here, through the
 *   dict's own API (thread-safe on free-threaded builds); its values are small
 *   ints, which CPython never frees, so a borrowed one cannot dangle.
 * - an ExchangeCore's pointer and owner are set once, by Exchange.__init__;
 *   its fast path copies the arguments before the call, so concurrent round
 *   trips on one Exchange share no buffer. A SignalFDCore's fd is atomic.
 * - a ListenerCore's ring, address and batch are set together and read
 *   together (a read takes its own reference to the ring), and its kept ints
 *   are taken by a read and put back after it, under the GIL or,
 *   free-threaded, the object's critical section.
 * - tuple_items_follow_header is written by the module's init, before any
 *   other code can run, and only read afterwards.
 * - lone_kept, the ints that records read outside a Listener share, is
 *   changed only under the GIL; free-threaded builds have none.
 * - nothing else is shared: each call works on its own stack buffers.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pyconfig.h>
#if !defined(Py_LIMITED_API) && !defined(Py_GIL_DISABLED) && !defined(Py_DEBUG) \
    && !defined(Py_TRACE_REFS) && !defined(Py_REF_DEBUG)
#define Py_LIMITED_API 0x03090000
#endif
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fastsig.h"

#ifndef METH_FASTCALL
#define METH_FASTCALL 0x0080
#endif
typedef PyObject *(*fastcall_kw)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *);
#define FASTCALL_KW(fn) ((PyCFunction)(void (*)(void))(fastcall_kw)(fn))
/* The unusual paths (the checked code, errors, other versions' layouts):
 * kept out of the hot functions, whose code then fits fewer cache lines. */
#define COLD __attribute__((cold, noinline))

#define NSIG_MASK 65          /* signals 1..64, the width of a mask */
#define PID_MAX INT32_MAX
#define STACK_RECORDS 16      /* batches up to this size need no malloc */
#define FS_SIGNALFD_RECORD 128  /* sizeof(struct signalfd_siginfo), checked */
/* Timeouts from this many seconds on (~146 years) mean "forever"; as
 * fastsig._ops._FOREVER_S. */
#define FOREVER_S (4611686018427387904.0 / 1e9)

/* The checked Python implementations, by what they stand behind. */
enum {
    C_SIGQUEUE, C_KILL, C_KILLPG, C_RAISE_SIGNAL, C_PTHREAD_KILL, C_PTHREAD_SIGQUEUE,
    C_PTHREAD_SIGMASK, C_SIGWAIT, C_SIGWAITINFO, C_SIGTIMEDWAIT, C_SIGWAITINFO_MANY,
    C_STRSIGNAL, C_WAIT_INTO, C_SIGNALFD_READ, C_RING_READ, C_COUNT
};
static const char *const checked_names[C_COUNT] = {
    "sigqueue", "kill", "killpg", "raise_signal", "pthread_kill", "pthread_sigqueue",
    "pthread_sigmask", "sigwait", "sigwaitinfo", "sigtimedwait", "sigwaitinfo_many",
    "strsignal", "wait_into", "signalfd_read", "ring_read",
};

/* Written once by setup(), read-only afterwards (see the top of the file). */
static const fs_api *api;
static PyObject *checked[C_COUNT];
static PyObject *siginfo_type;         /* fastsig.SigInfo, a tuple subclass */
static newfunc tuple_tp_new;           /* tuple's tp_new, which builds one (3.10+) */
static PyObject *tuple_new;            /* tuple.__new__, the same from Python (3.9) */
static PyObject *as_signal[NSIG_MASK]; /* number -> signal.Signals member or int */
static PyTypeObject *signals_type;     /* signal.Signals, found in as_signal */
static PyObject *names;                /* name -> number, the names parsed so far */
static PyObject *threads;              /* ident -> Thread: threads known alive */
static PyObject *raise_os_error;       /* (errno, syscall) -> raises OSError */
static PyObject *raise_send_error;     /* (errno, syscall) -> raises (QueueFull...) */
static PyObject *zero;                 /* the int 0 */
static PyObject *native_id_name;       /* "native_id", interned */
static uint64_t valid_mask;            /* bit n-1: n is a valid signal */
static uint64_t catchable_mask;        /* valid, minus SIGKILL and SIGSTOP */
static long max_batch;

/* ---- arguments: 1 taken, 0 not a common case (the checked code decides) -- */

static int int_in(PyObject *o, long long lo, long long hi, long long *out)
{
    int overflow;
    long long v;

    /* An exact int first: the limited API's PyLong_Check is a call. */
    if (Py_TYPE(o) != &PyLong_Type && (!PyLong_Check(o) || PyBool_Check(o)))
        return 0;
    v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    if (v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

static int ulong_in(PyObject *o, unsigned long *out)
{
    unsigned long v;

    if (!PyLong_Check(o) || PyBool_Check(o))
        return 0;
    /* Not PyLong_AsUnsignedLongLong: up to 3.12 it converts through a byte
     * array, several times slower for an id of a few digits. */
    v = PyLong_AsUnsignedLong(o);
    if (v == (unsigned long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    *out = v;
    return 1;
}

/* A signal in `allowed`, given as an int (or int subclass) or a known name. */
static int signal_in(PyObject *o, uint64_t allowed, int *out)
{
    PyTypeObject *type = Py_TYPE(o);
    long long v;

    /* The commonest two first: an int, a signal.Signals member (an int). */
    if (type == &PyLong_Type || type == signals_type) {
        int overflow;
        long n = PyLong_AsLongAndOverflow(o, &overflow);  /* cannot raise for an int */
        if (overflow || n < 1 || n >= NSIG_MASK || !((allowed >> (n - 1)) & 1u))
            return 0;
        *out = (int)n;
        return 1;
    }
    if (PyUnicode_Check(o)) {
        o = PyDict_GetItemWithError(names, o);  /* borrowed: a small int */
        if (o == NULL) {
            PyErr_Clear();
            return 0;
        }
    }
    if (!int_in(o, 1, NSIG_MASK - 1, &v) || !((allowed >> (v - 1)) & 1u))
        return 0;
    *out = (int)v;
    return 1;
}

/* kill(2)'s probe: the int 0 itself. */
static int is_probe(PyObject *o)
{
    long long v;
    return Py_TYPE(o) == &PyLong_Type && int_in(o, 0, 0, &v);
}

/* One signal, or a set/frozenset/list/tuple of them, all in `allowed`. Only
 * these types: iterating them twice (here, then in the checked code) is
 * harmless, which a generator's would not be. */
static int mask_in(PyObject *sigs, uint64_t allowed, uint64_t *out)
{
    PyTypeObject *type = Py_TYPE(sigs);
    PyObject *it, *item;
    uint64_t mask = 0;
    int sig, ok = 1;

    if (type != &PySet_Type && type != &PyFrozenSet_Type && type != &PyList_Type
        && type != &PyTuple_Type) {
        if (!signal_in(sigs, allowed, &sig))  /* one signal, or not a common case */
            return 0;
        *out = (uint64_t)1 << (sig - 1);
        return 1;
    }
    it = PyObject_GetIter(sigs);
    if (it == NULL) {
        PyErr_Clear();
        return 0;
    }
    while (ok && (item = PyIter_Next(it)) != NULL) {
        ok = signal_in(item, allowed, &sig);
        if (ok)
            mask |= (uint64_t)1 << (sig - 1);
        Py_DECREF(item);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {  /* e.g. a set changed size in another thread */
        PyErr_Clear();
        return 0;
    }
    *out = mask;
    return ok;
}

/* Seconds as ns (-1: forever); None only where it means forever. */
static int timeout_in(PyObject *o, int none_ok, int64_t *ns)
{
    double seconds;

    if (o == Py_None) {
        *ns = -1;
        return none_ok;
    }
    if (Py_TYPE(o) == &PyFloat_Type) {
        seconds = PyFloat_AsDouble(o);
    } else if (Py_TYPE(o) == &PyLong_Type) {
        long long v;
        if (!int_in(o, 0, LLONG_MAX, &v))
            return 0;
        seconds = (double)v;
    } else {
        return 0;
    }
    if (!(seconds >= 0))  /* negative or NaN */
        return 0;
    *ns = seconds >= FOREVER_S ? -1 : (int64_t)(seconds * 1e9);
    return 1;
}

/* Keyword arguments given to a fastcall builtin: the value named `name`
 * (borrowed), NULL if not given. *unknown is set when one has another name. */
static PyObject *keyword(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                         const char *name)
{
    Py_ssize_t n = kwnames == NULL ? 0 : PyTuple_Size(kwnames);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyUnicode_CompareWithASCIIString(PyTuple_GetItem(kwnames, i), name) == 0)
            return args[nargs + i];
    }
    return NULL;
}

/* optional_args() where keywords were given, or too many arguments. */
static COLD int keyword_args(const char *method, const char *usage, const char *const *names,
                             int count, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames, PyObject **out)
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_Size(kwnames);

    if (nargs > count)
        goto refused;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *name = PyTuple_GetItem(kwnames, k);
        int i = 0;
        while (i < count && PyUnicode_CompareWithASCIIString(name, names[i]) != 0)
            i++;
        if (i == count || out[i] != NULL)
            goto refused;
        out[i] = args[nargs + k];
    }
    return 1;
refused:
    PyErr_Format(PyExc_TypeError, "%s() takes %s", method, usage);
    return 0;
}

/* A method's optional arguments, names[0..count-1], given by position or by
 * name, into out (NULL: not given). 0 with a TypeError, which `usage` ends,
 * for anything else. */
static int optional_args(const char *method, const char *usage, const char *const *names,
                         int count, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames, PyObject **out)
{
    for (int i = 0; i < count; i++)
        out[i] = i < nargs ? args[i] : NULL;
    if (kwnames == NULL && nargs <= count)
        return 1;
    return keyword_args(method, usage, names, count, args, nargs, kwnames, out);
}

static const char *const max_name[] = {"max"};
#define MAX_ONLY "one optional argument, max"

/* The checked implementation, called with the same arguments. */
static COLD PyObject *call_checked(int which, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_Size(kwnames);
    PyObject *tuple = PyTuple_New(nargs), *kw = NULL, *result = NULL;

    if (tuple == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < nargs; i++) {
        Py_INCREF(args[i]);
        PyTuple_SetItem(tuple, i, args[i]);
    }
    if (nkw > 0) {
        kw = PyDict_New();
        for (Py_ssize_t i = 0; kw != NULL && i < nkw; i++) {
            if (PyDict_SetItem(kw, PyTuple_GetItem(kwnames, i), args[nargs + i]) < 0)
                Py_CLEAR(kw);
        }
        if (kw == NULL)
            goto done;
    }
    result = PyObject_Call(checked[which], tuple, kw);
done:
    Py_XDECREF(kw);
    Py_DECREF(tuple);
    return result;
}

/* Let raiser(err, syscall) raise the exception for a failed call. */
static COLD PyObject *fail(PyObject *raiser, int err, const char *syscall)
{
    PyObject *ret = PyObject_CallFunction(raiser, "is", err, syscall);
    if (ret != NULL) {
        Py_DECREF(ret);
        PyErr_Format(PyExc_SystemError, "fastsig: a failed %s raised nothing", syscall);
    }
    return NULL;
}

/* As the stdlib's functions do after a send or a mask change: a signal that
 * reached this thread runs its Python handler now, not at some later bytecode. */
static PyObject *none_after_handlers(void)
{
    if (PyErr_CheckSignals() < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ---- results ------------------------------------------------------------ */

/* fastsig.SigInfo: a subclass of the SigInfo NamedTuple (fastsig._siginfo),
 * which gives it every field name, method and property, with a deallocator
 * of its own. A class defined in Python frees through CPython's generic
 * subtype_dealloc (finalizers, weak references, slots, a trashcan) before
 * tuple's: a record has none of those, and this one decrefs its items and
 * frees it. Like CPython's struct sequences (signal.struct_siginfo), it
 * keeps no trashcan: a chain of records nested in records thousands deep
 * could exhaust the C stack when freed, as a chain of struct_siginfo can. */

/* Up to 3.13 a tuple is a PyVarObject header followed by its items
 * (PyTupleObject, fixed for those versions). 3.14 added a hash cache after
 * the header, which only tuple's own functions know about. Set by the
 * module's init, read-only afterwards. */
static int tuple_items_follow_header;

#define SIGINFO_FIELDS 14

static PyObject **record_items(PyObject *self)
{
    return (PyObject **)((char *)self + sizeof(PyVarObject));
}

static void record_dealloc(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    Py_ssize_t n = Py_SIZE(self);

    PyObject_GC_UnTrack(self);
    if (tuple_items_follow_header) {
        PyObject **items = record_items(self);
        for (Py_ssize_t i = 0; i < n; i++)
            Py_XDECREF(items[i]);
    } else {
        for (Py_ssize_t i = 0; i < n; i++)
            Py_XDECREF(PyTuple_GetItem(self, i));  /* borrowed: the tuple's own */
    }
    PyObject_GC_Del(self);
    Py_DECREF(type);  /* instances of a heap type own a reference to it */
}

static int record_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_ssize_t n = Py_SIZE(self);

    Py_VISIT(Py_TYPE(self));
    for (Py_ssize_t i = 0; i < n; i++)
        Py_VISIT(PyTuple_GetItem(self, i));
    return 0;
}

static PyType_Slot record_slots[] = {
    {Py_tp_dealloc, (void *)record_dealloc},
    {Py_tp_traverse, (void *)record_traverse},
    {0, NULL},
};

static PyType_Spec record_spec = {
    "fastsig.SigInfo", 0, 0,  /* the size of its base, a tuple's */
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC, record_slots,
};

/* record_type(fields): fastsig.SigInfo, made from the NamedTuple that
 * defines its fields (a tuple subclass that adds nothing to a tuple's
 * memory, as NamedTuple's __slots__ = () ensures). */
static PyObject *fast_record_type(PyObject *self, PyObject *fields)
{
    static const char *const sizes[] = {"__basicsize__", "__dictoffset__", "__weakrefoffset__"};
    PyObject *tuple_type = (PyObject *)&PyTuple_Type, *bases, *type;
    (void)self;

    if (!PyType_Check(fields) || !PyObject_IsSubclass(fields, tuple_type)) {
        PyErr_SetString(PyExc_TypeError, "record_type: fields must be a tuple subclass");
        return NULL;
    }
    /* The deallocator frees a tuple: the instances must be nothing more. */
    for (int i = 0; i < 3; i++) {
        PyObject *mine = PyObject_GetAttrString(fields, sizes[i]);
        PyObject *tuples = PyObject_GetAttrString(tuple_type, sizes[i]);
        int same = mine != NULL && tuples != NULL
                   ? PyObject_RichCompareBool(mine, tuples, Py_EQ) : -1;
        Py_XDECREF(mine);
        Py_XDECREF(tuples);
        if (same < 0)
            return NULL;
        if (!same)
            return PyErr_Format(PyExc_TypeError,
                                "record_type: fields' %s differs from tuple's", sizes[i]);
    }
    bases = PyTuple_Pack(1, fields);
    if (bases == NULL)
        return NULL;
    type = PyType_FromSpecWithBases(&record_spec, bases);
    Py_DECREF(bases);
    return type;
}

/* Most fields of a record are 0 (those its si_code does not define): the
 * shared 0, and a failure flag only where an int is made. */
static inline PyObject *new_int(long long v, int *failed)
{
    PyObject *o;

    if (v == 0) {
        Py_INCREF(zero);
        return zero;
    }
    o = PyLong_FromLongLong(v);
    *failed |= o == NULL;
    return o;
}

/* Ints a record usually shares with the one before it: its sender's pid and
 * uid (a flood from one sender), the thread whose handler ran, the time of a
 * handler entry that took several. Each is made once and then shared, within
 * a batch and from one read to the next (a Listener's own, or lone_kept). */
typedef struct {
    long long value;
    PyObject *obj;  /* strong; NULL: none yet */
} kept_int;

typedef struct {
    kept_int pid, uid, tid, time_ns;
} kept_ints;

/* v as an int, the one kept in k if it has that value. Not inlined: four
 * copies would make the code of a read several cache lines longer. */
static __attribute__((noinline)) PyObject *kept(kept_int *k, long long v, int *failed)
{
    PyObject *o;

    if (k->obj != NULL && k->value == v) {
        Py_INCREF(k->obj);
        return k->obj;
    }
    o = new_int(v, failed);
    if (o != NULL) {
        Py_XDECREF(k->obj);
        Py_INCREF(o);
        k->obj = o;
        k->value = v;
    }
    return o;
}

#define KEPT(name) (keep ? kept(&keep->name, info->name, &failed) : new_int(info->name, &failed))

/* The ints that records read outside a Listener share from one call to the
 * next (a waiter hears from the same few senders): with the GIL, which holds
 * while a record is made and is not handed over inside kept(), one set for
 * the process. Free-threaded, none: each batch shares its own. */
#ifdef Py_GIL_DISABLED
#define LONE_KEPT NULL
#else
static kept_ints lone_kept;
#define LONE_KEPT (&lone_kept)
#endif

static inline void kept_clear(kept_ints *k)
{
    Py_CLEAR(k->pid.obj);
    Py_CLEAR(k->uid.obj);
    Py_CLEAR(k->tid.obj);
    Py_CLEAR(k->time_ns.obj);
}

/* A record from its fields (new references, NULL where one failed) by
 * tuple's own constructor: for 3.14 on, and where an int failed. */
static COLD PyObject *siginfo_from_tuple(PyObject **fields, int failed)
{
    PyObject *items = failed ? NULL : PyTuple_New(SIGINFO_FIELDS), *args, *result = NULL;

    for (int i = 0; i < SIGINFO_FIELDS; i++) {
        if (items != NULL)
            PyTuple_SetItem(items, i, fields[i]);  /* steals */
        else
            Py_XDECREF(fields[i]);
    }
    if (items == NULL)
        return NULL;
    /* tuple.__new__(SigInfo, items), through tuple's tp_new where the
     * limited API gives it (3.10+), which skips the Python-level call. */
    if (tuple_tp_new != NULL) {
        args = PyTuple_Pack(1, items);
        if (args != NULL)
            result = tuple_tp_new((PyTypeObject *)siginfo_type, args, NULL);
    } else {
        args = PyTuple_Pack(2, siginfo_type, items);
        if (args != NULL)
            result = PyObject_Call(tuple_new, args, NULL);
    }
    Py_XDECREF(args);
    Py_DECREF(items);
    return result;
}

/* A record as SigInfo; keep: the ints it may share (NULL: none). */
static PyObject *new_siginfo(const fs_info *info, kept_ints *keep)
{
    PyObject *fields[SIGINFO_FIELDS], *items;
    int failed = 0;

    fields[0] = new_int(info->signo, &failed);
    fields[1] = new_int(info->code, &failed);
    fields[2] = new_int(info->err, &failed);
    fields[3] = KEPT(pid);
    fields[4] = KEPT(uid);
    fields[5] = new_int(info->status, &failed);
    fields[6] = new_int(info->band, &failed);
    fields[7] = new_int(info->value, &failed);
    if (info->addr > LLONG_MAX) {
        fields[8] = PyLong_FromUnsignedLongLong(info->addr);
        failed |= fields[8] == NULL;
    } else {
        fields[8] = new_int((long long)info->addr, &failed);
    }
    fields[9] = new_int(info->fd, &failed);
    fields[10] = new_int(info->timerid, &failed);
    fields[11] = new_int(info->overrun, &failed);
    fields[12] = KEPT(tid);
    fields[13] = KEPT(time_ns);
    if (!tuple_items_follow_header || failed)
        return siginfo_from_tuple(fields, failed);
    /* Where the items follow the header, this is all that
     * tuple.__new__(SigInfo, items) does, PyTuple_SET_ITEM included. */
    items = (PyObject *)PyObject_GC_NewVar(PyObject, (PyTypeObject *)siginfo_type, SIGINFO_FIELDS);
    if (items == NULL)
        return siginfo_from_tuple(fields, 1);
    memcpy(record_items(items), fields, sizeof fields);  /* steals */
    PyObject_GC_Track(items);
    return items;
}

/* The records of a batch taken in up to two parts, as SigInfo or as values. */
static PyObject *new_list(const fs_info *first, int n, const fs_info *rest, int more,
                          int values_only, kept_ints *keep)
{
    PyObject *list = PyList_New(n + more);
    kept_ints batch = {{0, NULL}, {0, NULL}, {0, NULL}, {0, NULL}};

    if (keep == NULL)
        keep = LONE_KEPT;
    if (keep == NULL && n + more > 1)
        keep = &batch;
    for (int i = 0; list != NULL && i < n + more; i++) {
        const fs_info *info = i < n ? &first[i] : &rest[i - n];
        PyObject *item = values_only ? PyLong_FromLongLong(info->value) : new_siginfo(info, keep);
        if (item == NULL || PyList_SetItem(list, i, item) < 0)
            Py_CLEAR(list);
    }
    if (keep == &batch)
        kept_clear(&batch);
    return list;
}

static PyObject *set_of(uint64_t mask)
{
    PyObject *set = PySet_New(NULL);

    while (set != NULL && mask != 0) {
        int sig = __builtin_ctzll(mask) + 1;
        mask &= mask - 1;
        if (PySet_Add(set, as_signal[sig]) < 0)
            Py_CLEAR(set);
    }
    return set;
}

/* ---- sending ------------------------------------------------------------ */

static PyObject *fast_sigqueue(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    long long pid, value = 0;
    int sig;
    (void)self;

    if (kwnames == NULL && (nargs == 2 || nargs == 3)
        && int_in(args[0], 1, PID_MAX, &pid) && signal_in(args[1], valid_mask, &sig)
        && (nargs == 2 || int_in(args[2], INTPTR_MIN, INTPTR_MAX, &value))) {
        /* The GIL is kept: rt_sigqueueinfo never blocks. */
        if (api->sigqueue((int32_t)pid, sig, (int64_t)value) < 0)
            return fail(raise_send_error, errno, "sigqueue");
        return none_after_handlers();
    }
    return call_checked(C_SIGQUEUE, args, nargs, kwnames);
}

/* kill() and killpg(): pid_sign 1 for a pid (any sign), -1 for a group. */
static PyObject *send_kill(int which, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames)
{
    long long pid;
    int sig = 0;

    if (kwnames == NULL && nargs == 2
        && (which == C_KILL ? int_in(args[0], -PID_MAX, PID_MAX, &pid)
                            : int_in(args[0], 0, PID_MAX, &pid))
        && (is_probe(args[1]) || signal_in(args[1], valid_mask, &sig))) {
        if (which == C_KILLPG)
            pid = -pid;
        if (api->kill((int32_t)pid, sig) < 0)
            return fail(raise_os_error, errno, "kill");
        return none_after_handlers();
    }
    return call_checked(which, args, nargs, kwnames);
}

static PyObject *fast_kill(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames)
{
    (void)self;
    return send_kill(C_KILL, args, nargs, kwnames);
}

static PyObject *fast_killpg(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    (void)self;
    return send_kill(C_KILLPG, args, nargs, kwnames);
}

static PyObject *fast_raise_signal(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
    int sig;
    (void)self;

    if (kwnames == NULL && nargs == 1 && signal_in(args[0], valid_mask, &sig)) {
        if (api->raise_signal(sig) < 0)
            return fail(raise_os_error, errno, "raise");
        return none_after_handlers();
    }
    return call_checked(C_RAISE_SIGNAL, args, nargs, kwnames);
}

/* A thread id that is the calling thread or one threading knows alive.
 * pthread_kill() on an id that is no live thread is undefined behaviour; any
 * other id goes to the checked code. */
static int live_thread(PyObject *o, unsigned long *ident)
{
    if (!ulong_in(o, ident))
        return 0;
    if (*ident == (unsigned long)pthread_self())
        return 1;
    int found = PyDict_Contains(threads, o);
    if (found < 0)
        PyErr_Clear();
    return found == 1;
}

/* The kernel id (native_id) of a thread threading knows alive, or 0 (the
 * calling thread's may be its parent's after a fork: never asked for it). */
static int32_t native_id(PyObject *ident)
{
    PyObject *thread = PyObject_GetItem(threads, ident), *id = NULL;
    long long tid = 0;

    if (thread != NULL)
        id = PyObject_GetAttr(thread, native_id_name);
    if (id == NULL || !int_in(id, 1, INT32_MAX, &tid))
        tid = 0;
    Py_XDECREF(id);
    Py_XDECREF(thread);
    PyErr_Clear();
    return (int32_t)tid;
}

static PyObject *fast_pthread_kill(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
    unsigned long thread;
    int sig = 0;
    (void)self;

    if (kwnames == NULL && nargs == 2 && live_thread(args[0], &thread)
        && (is_probe(args[1]) || signal_in(args[1], valid_mask, &sig))) {
        if (api->pthread_kill(thread, sig) < 0)
            return fail(raise_os_error, errno, "pthread_kill");
        return none_after_handlers();
    }
    return call_checked(C_PTHREAD_KILL, args, nargs, kwnames);
}

static PyObject *fast_pthread_sigqueue(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                       PyObject *kwnames)
{
    unsigned long thread;
    long long value = 0;
    int sig;
    (void)self;

    if (kwnames == NULL && (nargs == 2 || nargs == 3) && ulong_in(args[0], &thread)
        && signal_in(args[1], valid_mask, &sig)
        && (nargs == 2 || int_in(args[2], INTPTR_MIN, INTPTR_MAX, &value))) {
        /* By kernel id: the core knows the calling thread's (0), threading
         * the others' (a thread sets its native_id itself, so only the thread
         * that forked can have a stale one, and it is the calling thread).
         * Else only an id known alive reaches the C library. */
        int self_call = thread == (unsigned long)pthread_self();
        int32_t tid = self_call ? 0 : native_id(args[0]);
        int rc = self_call || tid > 0 ? api->tgsigqueue(tid, sig, (int64_t)value)
               : live_thread(args[0], &thread) ? api->pthread_sigqueue(thread, sig, (int64_t)value)
               : 1;
        if (rc < 0)
            return fail(raise_send_error, errno, "pthread_sigqueue");
        if (rc == 0)
            return none_after_handlers();
    }
    return call_checked(C_PTHREAD_SIGQUEUE, args, nargs, kwnames);
}

/* ---- masks -------------------------------------------------------------- */

static PyObject *fast_pthread_sigmask(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                      PyObject *kwnames)
{
    long long how;
    uint64_t mask, old;
    PyObject *result;
    (void)self;

    if (kwnames == NULL && nargs == 2 && Py_TYPE(args[0]) == &PyLong_Type
        && int_in(args[0], 0, INT32_MAX, &how)
        && (how == SIG_BLOCK || how == SIG_UNBLOCK || how == SIG_SETMASK)
        && mask_in(args[1], valid_mask, &mask)) {
        if (api->pthread_sigmask((int)how, mask, &old) < 0)
            return fail(raise_os_error, errno, "pthread_sigmask");
        result = set_of(old);
        if (result != NULL && PyErr_CheckSignals() < 0)
            Py_CLEAR(result);
        return result;
    }
    return call_checked(C_PTHREAD_SIGMASK, args, nargs, kwnames);
}

static PyObject *fast_sigpending(PyObject *self, PyObject *unused)
{
    uint64_t pending;
    (void)self;
    (void)unused;

    if (api->sigpending(&pending) < 0)
        return fail(raise_os_error, errno, "sigpending");
    return set_of(pending);
}

static PyObject *fast_valid_signals(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return set_of(valid_mask);
}

static PyObject *fast_strsignal(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    long long sig;
    const char *text;
    (void)self;

    if (kwnames == NULL && nargs == 1 && int_in(args[0], 1, NSIG_MASK - 1, &sig)) {
        /* A number the C library reserves (32, 33 on glibc) has no text. */
        if (!((valid_mask >> (sig - 1)) & 1u))
            Py_RETURN_NONE;
        text = strsignal((int)sig);
        if (text == NULL || strncmp(text, "Unknown signal", 14) == 0)
            Py_RETURN_NONE;
        return PyUnicode_FromString(text);
    }
    return call_checked(C_STRSIGNAL, args, nargs, kwnames);
}

/* ---- waiting ------------------------------------------------------------ */

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* fs_sigwaitinfo_many with PEP 475: on EINTR run the Python handlers (an
 * exception from one ends the wait), then wait again for the time left.
 * Returns the record count, 0 on timeout, -1 with an exception set. */
static int wait_records(uint64_t mask, fs_info *out, int max, int64_t ns)
{
    int64_t deadline = ns > 0 ? monotonic_ns() + ns : -1;
    int n, err = 0;

    for (;;) {
        if (ns == 0) {  /* the GIL is kept: a zero timeout never blocks */
            n = api->sigwaitinfo_many(mask, out, max, 0);
            if (n < 0)
                err = errno;
        } else {
            Py_BEGIN_ALLOW_THREADS
            n = api->sigwaitinfo_many(mask, out, max, ns);
            if (n < 0)
                err = errno;
            Py_END_ALLOW_THREADS
        }
        if (n >= 0)
            return n;
        if (err != EINTR) {
            fail(raise_os_error, err, ns >= 0 ? "sigtimedwait" : "sigwaitinfo");
            return -1;
        }
        if (PyErr_CheckSignals() < 0)
            return -1;
        if (deadline >= 0) {
            ns = deadline - monotonic_ns();
            if (ns < 0)
                ns = 0;
        }
    }
}

/* sigwait, sigwaitinfo, sigtimedwait: one record. */
static PyObject *wait_one(int which, PyObject *sigset, int64_t ns)
{
    uint64_t mask;
    fs_info info;
    int n;

    if (!mask_in(sigset, catchable_mask, &mask) || (mask == 0 && ns < 0))
        return NULL;  /* not taken: the caller hands it to the checked code */
    n = wait_records(mask, &info, 1, ns);
    if (n < 0)
        return NULL;
    if (n == 0)
        Py_RETURN_NONE;
    if (which == C_SIGWAIT) {
        PyObject *sig = as_signal[info.signo];
        Py_INCREF(sig);
        return sig;
    }
    return new_siginfo(&info, LONE_KEPT);
}

#define WAIT_NOT_TAKEN(result) ((result) == NULL && !PyErr_Occurred())

/* sigwait(sigset) and sigwaitinfo(sigset): one argument, no timeout. */
static PyObject *wait_untimed(int which, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    PyObject *result = NULL;
    if (kwnames == NULL && nargs == 1)
        result = wait_one(which, args[0], -1);
    if (WAIT_NOT_TAKEN(result))
        return call_checked(which, args, nargs, kwnames);
    return result;
}

static PyObject *fast_sigwait(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    (void)self;
    return wait_untimed(C_SIGWAIT, args, nargs, kwnames);
}

static PyObject *fast_sigwaitinfo(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames)
{
    (void)self;
    return wait_untimed(C_SIGWAITINFO, args, nargs, kwnames);
}

static PyObject *fast_sigtimedwait(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
    PyObject *result = NULL;
    int64_t ns;
    (void)self;

    if (kwnames == NULL && nargs == 2 && timeout_in(args[1], 0, &ns))
        result = wait_one(C_SIGTIMEDWAIT, args[0], ns);
    if (WAIT_NOT_TAKEN(result))
        return call_checked(C_SIGTIMEDWAIT, args, nargs, kwnames);
    return result;
}

/* A batch of up to max records, as a list of SigInfo or of si_value ints,
 * into out if given (Waiter's preallocated records). Otherwise the first
 * STACK_RECORDS land on the stack, and only a bigger burst, already pending,
 * is taken into a buffer of its own: no malloc for the common small batch. */
static PyObject *wait_list(uint64_t mask, fs_info *out, int max, int64_t ns, int values_only)
{
    fs_info stack[STACK_RECORDS], *rest = NULL;
    int n, more = 0;
    PyObject *result = NULL;

    if (out != NULL) {
        n = wait_records(mask, out, max, ns);
        return n < 0 ? NULL : new_list(out, n, NULL, 0, values_only, NULL);
    }
    n = wait_records(mask, stack, max < STACK_RECORDS ? max : STACK_RECORDS, ns);
    if (n < 0)
        return NULL;
    if (n == STACK_RECORDS && max > STACK_RECORDS) {
        rest = PyMem_Malloc((size_t)(max - n) * sizeof *rest);
        if (rest == NULL)
            return PyErr_NoMemory();
        more = wait_records(mask, rest, max - n, 0);  /* cannot fail: mask is valid */
    }
    if (more >= 0)
        result = new_list(stack, n, rest, more, values_only, NULL);
    PyMem_Free(rest);
    return result;
}

/* sigwaitinfo_many(sigset, max=256, timeout=None) */
static PyObject *fast_sigwaitinfo_many(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                       PyObject *kwnames)
{
    Py_ssize_t nkw = 0;
    PyObject *max_obj = nargs > 1 ? args[1] : NULL, *timeout_obj = nargs > 2 ? args[2] : NULL;
    long long max = 256;
    int64_t ns = -1;
    uint64_t mask;
    (void)self;

    if (kwnames != NULL) {
        nkw = PyTuple_Size(kwnames);
        if (nargs <= 1)
            max_obj = keyword(args, nargs, kwnames, "max");
        if (nargs <= 2)
            timeout_obj = keyword(args, nargs, kwnames, "timeout");
    }
    if (nargs >= 1 && nargs + nkw <= 3
        && nkw == (nargs <= 1 && max_obj != NULL) + (nargs <= 2 && timeout_obj != NULL)
        && (max_obj == NULL || int_in(max_obj, 1, max_batch, &max))
        && (timeout_obj == NULL || timeout_in(timeout_obj, 1, &ns))
        && mask_in(args[0], catchable_mask, &mask) && (mask != 0 || ns >= 0))
        return wait_list(mask, NULL, (int)max, ns, 0);
    return call_checked(C_SIGWAITINFO_MANY, args, nargs, kwnames);
}

/* wait_into(address, mask, max, timeout, values_only): Waiter's wait into
 * its own preallocated batch, arguments already checked but the timeout; the
 * mask as an int64 (signal 64 is its sign bit). */
static PyObject *fast_wait_into(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    unsigned long address;
    long long mask, max;
    int64_t ns;
    (void)self;

    if (kwnames == NULL && nargs == 5 && ulong_in(args[0], &address) && address != 0
        && int_in(args[1], LLONG_MIN, LLONG_MAX, &mask) && int_in(args[2], 1, max_batch, &max)
        && timeout_in(args[3], 1, &ns) && (mask != 0 || ns >= 0))
        return wait_list((uint64_t)mask, (fs_info *)(uintptr_t)address, (int)max, ns,
                         PyObject_IsTrue(args[4]) == 1);
    return call_checked(C_WAIT_INTO, args, nargs, kwnames);
}

/* A Listener's read of its ring: up to max records, waiting up to ns (-1:
 * forever) with the GIL released unless ns is 0. Wakes without records
 * (EINTR: our own handler, most often) run the Python handlers, then wait the
 * time left (PEP 475). 0 once the ring is closing or the time is up, -1
 * with an exception set. */
static int ring_records(fs_ring *ring, fs_info *out, int max, int64_t ns)
{
    int64_t deadline = ns > 0 ? monotonic_ns() + ns : -1;

    for (;;) {
        int n, err = 0;
        if (ns == 0)
            return api->ring_drain(ring, out, max);
        /* Records there already: no need to hand the GIL over. */
        n = api->ring_take(ring, out, max);
        if (n > 0)
            return n;
        Py_BEGIN_ALLOW_THREADS
        n = api->ring_wait(ring, out, max, ns);
        if (n < 0)
            err = errno;
        Py_END_ALLOW_THREADS
        if (n < 0) {
            fail(raise_os_error, err, "poll");
            return -1;
        }
        if (n > 0 || api->ring_closing(ring))
            return n;
        /* A handler that closes the Listener has taken its final counts:
         * read nothing more after it. */
        if (PyErr_CheckSignals() < 0 || api->ring_closing(ring))
            return PyErr_Occurred() ? -1 : 0;
        if (deadline >= 0) {
            ns = deadline - monotonic_ns();
            if (ns <= 0)
                ns = 0;  /* one last look, as a drain */
        }
    }
}

/* A read of up to max records, waiting ns (-1: forever, 0: not at all),
 * counted in for close() (fs_ring_enter), of a ring the caller holds a
 * reference to; [] if it is closing. The first STACK_RECORDS land on the
 * stack; a bigger batch, already there, is drained into a buffer of its own. */
static PyObject *read_ring(fs_ring *ring, long long max, int64_t ns, int values_only,
                           kept_ints *keep)
{
    fs_info stack[STACK_RECORDS], *rest = NULL;
    fs_reading reading;
    int n, more = 0;
    PyObject *result = NULL;

    if (api->ring_enter(ring, &reading) < 0)
        return PyList_New(0);
    n = ring_records(ring, stack, max < STACK_RECORDS ? (int)max : STACK_RECORDS, ns);
    /* No memory for more: the rest stays in the ring for the next read. */
    if (n == STACK_RECORDS && max > STACK_RECORDS
        && (rest = PyMem_Malloc((size_t)(max - n) * sizeof *rest)) != NULL)
        more = api->ring_drain(ring, rest, (int)max - n);
    api->ring_leave(&reading);
    if (n >= 0)
        result = new_list(stack, n, rest, more, values_only, keep);
    PyMem_Free(rest);
    return result;
}

/* ring_read(address, max, timeout, block, values_only): read_ring() for a
 * Listener with an accept= policy, and for ListenerCore's unusual arguments. */
static PyObject *fast_ring_read(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    unsigned long address;
    long long max;
    int64_t ns = 0;
    (void)self;

    if (kwnames != NULL || nargs != 5 || !ulong_in(args[0], &address) || address == 0
        || !int_in(args[1], 1, max_batch, &max)
        || (PyObject_IsTrue(args[3]) == 1 && !timeout_in(args[2], 1, &ns)))
        return call_checked(C_RING_READ, args, nargs, kwnames);
    return read_ring((fs_ring *)(uintptr_t)address, max, ns, PyObject_IsTrue(args[4]) == 1,
                     NULL);
}

/* One read() of up to max records from a signalfd, retried after EINTR
 * once the Python handlers ran. 0 when none is pending (non-blocking fd). */
static int read_records(int fd, void *scratch, int max, fs_info *out)
{
    int n, err = 0;

    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        n = api->signalfd_read(fd, scratch, (size_t)max * FS_SIGNALFD_RECORD, out);
        if (n < 0)
            err = errno;
        Py_END_ALLOW_THREADS
        if (n >= 0)
            return n;
        if (err != EINTR) {
            fail(raise_os_error, err, "read(signalfd)");
            return -1;
        }
        if (PyErr_CheckSignals() < 0)
            return -1;
    }
}

/* The buffer of a signalfd read of up to `records` records: the raw records,
 * then as many fs_info. Its size heads it. */
typedef struct {
    size_t records;
    _Alignas(16) unsigned char data[];
} read_buffer;

static read_buffer *new_read_buffer(size_t records)
{
    read_buffer *buf = PyMem_Malloc(sizeof *buf + records * (FS_SIGNALFD_RECORD + sizeof(fs_info)));
    if (buf != NULL)
        buf->records = records;
    return buf;
}

/* Up to max records from a signalfd in one read(). Up to STACK_RECORDS land
 * on the stack; a bigger batch in the buffer *spare holds for reuse (a
 * SignalFD's, taken with an atomic exchange so that reads in several threads
 * never share one), else in one of its own. */
static PyObject *read_batch(int fd, int max, int values_only, _Atomic(read_buffer *) *spare)
{
    _Alignas(16) unsigned char scratch[STACK_RECORDS * FS_SIGNALFD_RECORD];
    fs_info first[STACK_RECORDS];
    read_buffer *buf = NULL;
    PyObject *result = NULL;
    int n;

    if (api->signalfd_record_size() != FS_SIGNALFD_RECORD)
        return PyErr_Format(PyExc_SystemError, "fastsig: signalfd records of %zu bytes",
                            api->signalfd_record_size());
    if (max <= STACK_RECORDS) {
        n = read_records(fd, scratch, max, first);
        return n < 0 ? NULL : new_list(first, n, NULL, 0, values_only, NULL);
    }
    if (spare != NULL)
        buf = atomic_exchange(spare, NULL);
    if (buf != NULL && buf->records < (size_t)max) {
        PyMem_Free(buf);
        buf = NULL;
    }
    if (buf == NULL && (buf = new_read_buffer((size_t)max)) == NULL)
        return PyErr_NoMemory();
    fs_info *out = (fs_info *)(buf->data + (size_t)buf->records * FS_SIGNALFD_RECORD);
    n = read_records(fd, buf->data, max, out);
    if (n >= 0)
        result = new_list(out, n, NULL, 0, values_only, NULL);
    if (spare != NULL)
        buf = atomic_exchange(spare, buf);  /* another thread's spare, if it put one back */
    PyMem_Free(buf);
    return result;
}

/* signalfd_read(fd, max, values_only) */
static PyObject *fast_signalfd_read(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames)
{
    long long fd, max;
    (void)self;

    if (kwnames == NULL && nargs == 3 && int_in(args[0], 0, INT32_MAX, &fd)
        && int_in(args[1], 1, max_batch, &max))
        return read_batch((int)fd, (int)max, PyObject_IsTrue(args[2]) == 1, NULL);
    return call_checked(C_SIGNALFD_READ, args, nargs, kwnames);
}

/* records(address, n): the first n records of a batch (fs_info[] at
 * address) as SigInfo; the Listener's and the checked waits' records. */
static PyObject *fast_records(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    unsigned long address;
    long long n;
    (void)self;

    if (api == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "fastsig._fast is not set up");
        return NULL;
    }
    if (kwnames != NULL || nargs != 2 || !ulong_in(args[0], &address) || address == 0
        || !int_in(args[1], 0, max_batch, &n)) {
        PyErr_SetString(PyExc_TypeError, "records() takes an address and a count");
        return NULL;
    }
    return new_list((const fs_info *)(uintptr_t)address, (int)n, NULL, 0, 0, NULL);
}

/* ---- SignalFD ----------------------------------------------------------- */

/* The base of fastsig.SignalFD: its read() and read_values() are these C
 * methods, on the fd and default max that _set_fd() gave (fd -1: closed).
 * Both are atomics: close() in one thread may race a read() in another
 * (which then reads a closed fd or raises, as with any fd). spare is the
 * buffer of the last batch read, for the next (see read_batch). */
typedef struct {
    PyObject_HEAD
    _Atomic int fd;
    _Atomic int max;
    _Atomic(read_buffer *) spare;
} SignalFDCore;

static PyObject *sfd_read_common(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames, int values_only)
{
    SignalFDCore *core = (SignalFDCore *)self;
    PyObject *max_obj;
    int fd = atomic_load_explicit(&core->fd, memory_order_relaxed);
    long long max = atomic_load_explicit(&core->max, memory_order_relaxed);

    if (!optional_args(values_only ? "read_values" : "read", MAX_ONLY, max_name, 1,
                       args, nargs, kwnames, &max_obj))
        return NULL;
    if (fd < 0)  /* the Python side raises the error for a closed fd */
        return PyObject_CallMethod(self, "_check_open", NULL);
    if (max_obj != NULL && max_obj != Py_None && !int_in(max_obj, 1, max_batch, &max)) {
        PyObject *values = values_only ? Py_True : Py_False;
        PyObject *fd_obj = PyLong_FromLong(fd), *checked_args[3] = {fd_obj, max_obj, values};
        PyObject *result = fd_obj == NULL ? NULL
                         : call_checked(C_SIGNALFD_READ, checked_args, 3, NULL);
        Py_XDECREF(fd_obj);
        return result;
    }
    return read_batch(fd, (int)max, values_only, &core->spare);
}

static PyObject *sfd_read(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames)
{
    return sfd_read_common(self, args, nargs, kwnames, 0);
}

static PyObject *sfd_read_values(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    return sfd_read_common(self, args, nargs, kwnames, 1);
}

static PyObject *sfd_set_fd(PyObject *self, PyObject *args)
{
    SignalFDCore *core = (SignalFDCore *)self;
    int fd, max;

    if (!PyArg_ParseTuple(args, "ii:_set_fd", &fd, &max))
        return NULL;
    if (max < 1 || max > max_batch) {
        PyErr_SetString(PyExc_ValueError, "_set_fd: max out of range");
        return NULL;
    }
    atomic_store(&core->max, max);
    atomic_store(&core->fd, fd < 0 ? -1 : fd);
    Py_RETURN_NONE;
}

static PyObject *sfd_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    PyObject *self = alloc(type, 0);
    (void)args;
    (void)kwargs;
    if (self != NULL) {
        atomic_init(&((SignalFDCore *)self)->fd, -1);
        atomic_init(&((SignalFDCore *)self)->max, 1);
        atomic_init(&((SignalFDCore *)self)->spare, NULL);
    }
    return self;
}

static void sfd_dealloc(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    freefunc free_fn = (freefunc)PyType_GetSlot(type, Py_tp_free);
    PyMem_Free(atomic_exchange(&((SignalFDCore *)self)->spare, NULL));
    free_fn(self);
    Py_DECREF(type);
}

static PyMethodDef sfd_methods[] = {
    {"read", FASTCALL_KW(sfd_read), METH_FASTCALL | METH_KEYWORDS,
     "read($self, /, max=None)\n--\n\n"
     "Up to max records (default: the max given at creation; any size up to\n"
     "MAX_BATCH). Blocking mode waits for at least one; non-blocking mode\n"
     "returns [] when none is pending."},
    {"read_values", FASTCALL_KW(sfd_read_values), METH_FASTCALL | METH_KEYWORDS,
     "read_values($self, /, max=None)\n--\n\n"
     "Like read(), returning only each record's si_value."},
    {"_set_fd", sfd_set_fd, METH_VARARGS,
     "_set_fd($self, fd, max, /)\n--\n\n"
     "The fd read() reads (-1: closed) and its default max."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot sfd_slots[] = {
    {Py_tp_doc, (void *)"The C part of fastsig.SignalFD."},
    {Py_tp_new, (void *)sfd_new},
    {Py_tp_dealloc, (void *)sfd_dealloc},
    {Py_tp_methods, sfd_methods},
    {0, NULL},
};

static PyType_Spec sfd_spec = {
    "fastsig._fast.SignalFDCore", sizeof(SignalFDCore), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, sfd_slots,
};

/* ---- C bases that point into memory a Python object owns ----------------- */

/* ListenerCore and ExchangeCore point into a Ring's or an Exchange buffer's
 * memory. Each holds the object that owns it, so the GC sees that object and
 * the memory stays while they point into it. */
typedef struct {
    PyObject_HEAD
    PyObject *owner;  /* NULL: nothing to point into (never set, or cleared) */
} OwningCore;

static int owning_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((OwningCore *)self)->owner);
    return 0;
}

static int owning_clear(PyObject *self)
{
    Py_CLEAR(((OwningCore *)self)->owner);
    return 0;
}

static void owning_dealloc(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    freefunc free_fn = (freefunc)PyType_GetSlot(type, Py_tp_free);
    PyObject_GC_UnTrack(self);
    owning_clear(self);
    free_fn(self);
    Py_DECREF(type);
}

#define OWNING_SLOTS \
    {Py_tp_traverse, (void *)owning_traverse}, \
    {Py_tp_clear, (void *)owning_clear}

/* ---- Listener ----------------------------------------------------------- */

/* The base of fastsig.Listener: its reads are these C methods, one call from
 * the arguments to the list. They read the ring _set_reader() gave them; with
 * none (an accept= policy, a closed Listener: close() takes it back right
 * after shutting the ring down) or with unusual arguments, they
 * hand the read to the Python method self._read(max, timeout, block,
 * values_only), which checks, raises and filters. A read holds the ring while
 * it uses the memory, so a close() that drops it frees nothing under a read. */
typedef struct {
    OwningCore base;   /* the Ring object owning *address */
    fs_ring *address;
    long long batch;   /* max when none is given */
    kept_ints kept;    /* the ints the last read's records ended with */
} ListenerCore;

/* The Ring, its address and batch are changed together, by _set_reader(),
 * and the kept ints by each read, which takes them at its start and puts them
 * back at its end (two reads at once: the second starts with none): on the
 * free-threaded build under the object's critical section. */
#ifdef Py_GIL_DISABLED
#define BEGIN_OWNED(obj) Py_BEGIN_CRITICAL_SECTION(obj)
#define END_OWNED() Py_END_CRITICAL_SECTION()
#else
#define BEGIN_OWNED(obj) {
#define END_OWNED() }
#endif

/* A new reference to the ring the fast path reads (NULL: none), with its
 * address and batch, and the kept ints, taken for this read. */
static PyObject *reader_ring(PyObject *self, fs_ring **address, long long *batch,
                             kept_ints *keep)
{
    ListenerCore *core = (ListenerCore *)self;
    PyObject *ring;

    BEGIN_OWNED(self);
    ring = core->base.owner;
    Py_XINCREF(ring);
    *address = core->address;
    *batch = core->batch;
    *keep = core->kept;
    memset(&core->kept, 0, sizeof core->kept);
    END_OWNED();
    return ring;
}

/* Puts a read's kept ints back for the next one. */
static void keep_for_next_read(PyObject *self, kept_ints *keep)
{
    ListenerCore *core = (ListenerCore *)self;
    kept_ints old;

    BEGIN_OWNED(self);
    old = core->kept;
    core->kept = *keep;
    END_OWNED();
    kept_clear(&old);
}

static void lc_dealloc(PyObject *self)
{
    kept_clear(&((ListenerCore *)self)->kept);
    owning_dealloc(self);
}

static PyObject *lc_read(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames, const char *method, int block, int values_only)
{
    static const char *const wait_names[] = {"timeout", "max"};
    PyObject *given[2], *timeout_obj = NULL, *max_obj, *ring, *result;
    kept_ints keep;
    fs_ring *address;
    long long max;
    int64_t ns = block ? -1 : 0;

    if (block ? !optional_args(method, "two optional arguments, timeout and max", wait_names,
                               2, args, nargs, kwnames, given)
              : !optional_args(method, MAX_ONLY, max_name, 1, args, nargs, kwnames, given))
        return NULL;
    if (block)
        timeout_obj = given[0];
    max_obj = given[block];
    /* A closed Listener has no ring here: _read() raises. One closing meanwhile
     * reads [] (read_ring), as a read it interrupts does. */
    ring = reader_ring(self, &address, &max, &keep);
    if (ring != NULL
        && (max_obj == NULL || max_obj == Py_None || int_in(max_obj, 1, max_batch, &max))
        && (timeout_obj == NULL || timeout_in(timeout_obj, 1, &ns))) {
        result = read_ring(address, max, ns, values_only, &keep);
    } else {
        result = PyObject_CallMethod(self, "_read", "OOOO", max_obj ? max_obj : Py_None,
                                     timeout_obj ? timeout_obj : Py_None,
                                     block ? Py_True : Py_False,
                                     values_only ? Py_True : Py_False);
    }
    keep_for_next_read(self, &keep);
    Py_XDECREF(ring);
    return result;
}

static PyObject *lc_drain(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames)
{
    return lc_read(self, args, nargs, kwnames, "drain", 0, 0);
}

static PyObject *lc_drain_values(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    return lc_read(self, args, nargs, kwnames, "drain_values", 0, 1);
}

static PyObject *lc_wait(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    return lc_read(self, args, nargs, kwnames, "wait", 1, 0);
}

static PyObject *lc_wait_values(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    return lc_read(self, args, nargs, kwnames, "wait_values", 1, 1);
}

static PyObject *lc_set_reader(PyObject *self, PyObject *args)
{
    ListenerCore *core = (ListenerCore *)self;
    PyObject *ring, *old;
    unsigned long long address;
    long long batch;

    if (!PyArg_ParseTuple(args, "OKL:_set_reader", &ring, &address, &batch))
        return NULL;
    if (ring != Py_None && (address == 0 || batch < 1 || batch > max_batch)) {
        PyErr_SetString(PyExc_ValueError, "_set_reader: no ring, or batch out of range");
        return NULL;
    }
    if (ring == Py_None)
        ring = NULL;
    Py_XINCREF(ring);
    BEGIN_OWNED(self);
    old = core->base.owner;
    core->base.owner = ring;
    core->address = ring == NULL ? NULL : (fs_ring *)(uintptr_t)address;
    core->batch = batch;
    END_OWNED();
    Py_XDECREF(old);
    Py_RETURN_NONE;
}

static PyMethodDef lc_methods[] = {
    {"drain", FASTCALL_KW(lc_drain), METH_FASTCALL | METH_KEYWORDS,
     "drain($self, /, max=None)\n--\n\n"
     "Every record ready now, up to max; never blocks."},
    {"drain_values", FASTCALL_KW(lc_drain_values), METH_FASTCALL | METH_KEYWORDS,
     "drain_values($self, /, max=None)\n--\n\n"
     "Like drain(), returning only each record's si_value."},
    {"wait", FASTCALL_KW(lc_wait), METH_FASTCALL | METH_KEYWORDS,
     "wait($self, /, timeout=None, max=None)\n--\n\n"
     "Block (GIL released) until records arrive, up to max; [] on timeout\n"
     "or when the Listener is closed meanwhile."},
    {"wait_values", FASTCALL_KW(lc_wait_values), METH_FASTCALL | METH_KEYWORDS,
     "wait_values($self, /, timeout=None, max=None)\n--\n\n"
     "Like wait(), returning only each record's si_value."},
    {"_set_reader", lc_set_reader, METH_VARARGS,
     "_set_reader($self, ring, address, batch, /)\n--\n\n"
     "Read ring (a Ring owning the fs_ring at address; None: hand every read\n"
     "to self._read()), batch records at most when no max is given."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot lc_slots[] = {
    {Py_tp_doc, (void *)"The C part of fastsig.Listener."},
    OWNING_SLOTS,
    {Py_tp_dealloc, (void *)lc_dealloc},
    {Py_tp_methods, lc_methods},
    {0, NULL},
};

static PyType_Spec lc_spec = {
    "fastsig._fast.ListenerCore", sizeof(ListenerCore), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC, lc_slots,
};

/* ---- Exchange ----------------------------------------------------------- */

/* The base of fastsig.Exchange: its send_wait_value() is this C method, which
 * works on a copy of the Exchange's preallocated fs_exchange. Everything but a
 * completed round trip with an int value goes to the Python method
 * self._slow(value, n, errno, start_ns). */
typedef struct {
    OwningCore base;  /* owns *x */
    const fs_exchange *x;
} ExchangeCore;

#define EXCHANGE_NOT_INT -3  /* n for _slow(): the value was not taken */

static PyObject *xc_attach(PyObject *self, PyObject *args)
{
    ExchangeCore *xc = (ExchangeCore *)self;
    unsigned long long address;
    PyObject *keep;

    if (!PyArg_ParseTuple(args, "KO:_attach", &address, &keep))
        return NULL;
    if (address == 0) {
        PyErr_SetString(PyExc_ValueError, "_attach: null fs_exchange");
        return NULL;
    }
    PyObject *old = xc->base.owner;
    Py_INCREF(keep);
    xc->base.owner = keep;
    xc->x = (const fs_exchange *)(uintptr_t)address;
    Py_XDECREF(old);
    Py_RETURN_NONE;
}

static PyObject *xc_send_wait_value(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames)
{
    static const char *const value_name[] = {"value"};
    ExchangeCore *xc = (ExchangeCore *)self;
    PyObject *value_obj, *zero = NULL, *result;
    long long value, start_ns = 0;
    fs_exchange x;
    fs_info out;
    int n, err = 0;

    if (!optional_args("send_wait_value", "one optional argument, value", value_name, 1,
                       args, nargs, kwnames, &value_obj))
        return NULL;
    if (xc->base.owner == NULL) {
        PyErr_SetString(PyExc_ValueError, "send_wait_value() on an Exchange never set up");
        return NULL;
    }
    if (value_obj == NULL)
        value_obj = zero = PyLong_FromLong(0);
    if (value_obj == NULL)
        return NULL;
    x = *xc->x;
    /* When the round trip began, for the time left after an EINTR; a wait
     * without a timeout needs none. CLOCK_MONOTONIC is time.monotonic_ns(). */
    if (x.timeout_ns >= 0)
        start_ns = monotonic_ns();
    if (!int_in(value_obj, INTPTR_MIN, INTPTR_MAX, &value)) {
        n = EXCHANGE_NOT_INT;
    } else {
        x.value = (int64_t)value;
        Py_BEGIN_ALLOW_THREADS
        n = api->exchange_once(&x, &out);
        if (n < 0)
            err = errno;
        Py_END_ALLOW_THREADS
        if (n == 1) {
            Py_XDECREF(zero);
            return PyLong_FromLongLong(out.value);
        }
    }
    result = PyObject_CallMethod(self, "_slow", "OiiL", value_obj, n, err, start_ns);
    Py_XDECREF(zero);
    return result;
}

static PyMethodDef xc_methods[] = {
    {"send_wait_value", FASTCALL_KW(xc_send_wait_value), METH_FASTCALL | METH_KEYWORDS,
     "send_wait_value($self, /, value=0)\n--\n\n"
     "Send value, wait for one reply, in one C call; the reply's si_value,\n"
     "or None if the timeout ran out."},
    {"_attach", xc_attach, METH_VARARGS,
     "_attach($self, address, keep, /)\n--\n\n"
     "Work on the fs_exchange at address, which keep owns."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot xc_slots[] = {
    {Py_tp_doc, (void *)"The C part of fastsig.Exchange."},
    OWNING_SLOTS,
    {Py_tp_dealloc, (void *)owning_dealloc},
    {Py_tp_methods, xc_methods},
    {0, NULL},
};

static PyType_Spec xc_spec = {
    "fastsig._fast.ExchangeCore", sizeof(ExchangeCore), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC, xc_slots,
};

/* ---- setup -------------------------------------------------------------- */

/* Whether the running CPython is older than major.minor (this abi3 module
 * runs on any version from 3.9 on). */
static int runtime_before(int major, int minor)
{
    int run_major = 0, run_minor = 0;
    if (sscanf(Py_GetVersion(), "%d.%d", &run_major, &run_minor) != 2)
        return 0;
    return run_major < major || (run_major == major && run_minor < minor);
}

static PyObject *fast_setup(PyObject *self, PyObject *args)
{
    unsigned long long address;
    unsigned long long valid, catchable;
    PyObject *type, *signals, *name_dict, *thread_dict, *impls, *os_err, *send_err;
    PyObject *tuple_type = (PyObject *)&PyTuple_Type;
    (void)self;

    if (!PyArg_ParseTuple(args, "KO!O!KKO!O!O!OOl:setup", &address, &PyType_Type, &type,
                          &PyTuple_Type, &signals, &valid, &catchable, &PyDict_Type, &name_dict,
                          &PyDict_Type, &thread_dict, &PyDict_Type, &impls, &os_err, &send_err,
                          &max_batch))
        return NULL;
    if (api != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "fastsig._fast is already set up");
        return NULL;
    }
    if (address == 0 || ((const fs_api *)(uintptr_t)address)->size != sizeof(fs_api)) {
        PyErr_SetString(PyExc_ValueError, "setup: not an fs_api table of this build");
        return NULL;
    }
    if (!PyObject_IsSubclass(type, tuple_type) || PyTuple_Size(signals) != NSIG_MASK
        || max_batch < 1 || max_batch > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "setup: bad SigInfo type, signal table or batch size");
        return NULL;
    }
    PyObject *new_fn = PyObject_GetAttrString(tuple_type, "__new__");
    if (new_fn == NULL)
        return NULL;
    PyObject *zero_int = PyLong_FromLong(0);
    PyObject *id_name = PyUnicode_InternFromString("native_id");
    if (zero_int == NULL || id_name == NULL) {
        Py_DECREF(new_fn);
        Py_XDECREF(zero_int);
        Py_XDECREF(id_name);
        return NULL;
    }
    for (int i = 0; i < C_COUNT; i++) {
        PyObject *fn = PyDict_GetItemString(impls, checked_names[i]);
        if (fn == NULL || !PyCallable_Check(fn)) {
            Py_DECREF(new_fn);
            Py_DECREF(zero_int);
            Py_DECREF(id_name);
            return PyErr_Format(PyExc_ValueError, "setup: no checked %s", checked_names[i]);
        }
    }
    /* Nothing can fail from here on: commit everything. */
    for (int i = 0; i < C_COUNT; i++) {
        checked[i] = PyDict_GetItemString(impls, checked_names[i]);
        Py_INCREF(checked[i]);
    }
    for (int i = 0; i < NSIG_MASK; i++) {
        as_signal[i] = PyTuple_GetItem(signals, i);
        Py_INCREF(as_signal[i]);
        /* An exact int subclass, never bool: its value is the signal number. */
        if (Py_TYPE(as_signal[i]) != &PyLong_Type && PyLong_Check(as_signal[i])
            && !PyBool_Check(as_signal[i]))
            signals_type = Py_TYPE(as_signal[i]);
    }
    Py_INCREF(type);
    Py_INCREF(name_dict);
    Py_INCREF(thread_dict);
    Py_INCREF(os_err);
    Py_INCREF(send_err);
    siginfo_type = type;
    tuple_new = new_fn;
    zero = zero_int;
    native_id_name = id_name;
    /* PyType_GetSlot() answers for a static type from 3.10 on; 3.9 raises. */
    tuple_tp_new = (newfunc)PyType_GetSlot(&PyTuple_Type, Py_tp_new);
    if (tuple_tp_new == NULL)
        PyErr_Clear();
    names = name_dict;
    threads = thread_dict;
    raise_os_error = os_err;
    raise_send_error = send_err;
    valid_mask = valid;
    catchable_mask = catchable & valid;
    api = (const fs_api *)(uintptr_t)address;
    Py_RETURN_NONE;
}

#define FAST(name, doc) \
    {#name, FASTCALL_KW(fast_##name), METH_FASTCALL | METH_KEYWORDS, doc}

static PyMethodDef fast_methods[] = {
    {"record_type", fast_record_type, METH_O,
     "record_type(fields, /)\n--\n\n"
     "fastsig.SigInfo: a subclass of fields (the SigInfo NamedTuple) whose\n"
     "records this module makes and frees without the generic paths."},
    {"setup", fast_setup, METH_VARARGS,
     "setup(api_address, siginfo_type, signals, valid_mask, catchable_mask, names,\n"
     "      threads, checked, raise_os_error, raise_send_error, max_batch, /)\n--\n\n"
     "Wire this module to the core and the Python layer; once, at import."},
    FAST(sigqueue,
         "sigqueue(pid, sig, value=0)\n--\n\n"
         "Queue signal sig with the integer payload value (pointer-width sigval) to\n"
         "process pid, in one syscall. sig may be an int, a signal.Signals or a name\n"
         "('SIGRTMIN+1', 'USR1'). Real-time signals queue in order, lowest number\n"
         "first; standard signals (1-31) coalesce while pending, payload included.\n"
         "A full queue (EAGAIN, RLIMIT_SIGPENDING) raises fastsig.QueueFull, a\n"
         "BlockingIOError: nothing is dropped silently. Bad arguments raise\n"
         "TypeError/ValueError/OverflowError before any syscall."),
    FAST(kill,
         "kill(pid, sig)\n--\n\n"
         "kill(2): pid > 0 one process, 0 my process group, -1 every process I may\n"
         "signal, < -1 the process group -pid. sig may be 0 to probe."),
    FAST(killpg,
         "killpg(pgid, sig)\n--\n\n"
         "Signal every process in process group pgid (0: my own group)."),
    FAST(raise_signal,
         "raise_signal(signalnum)\n--\n\n"
         "Send a signal to the calling thread, like signal.raise_signal()."),
    FAST(pthread_kill,
         "pthread_kill(thread_id, signalnum)\n--\n\n"
         "Send a signal to a thread of this process, like signal.pthread_kill().\n\n"
         "Unlike the stdlib, an id that is not a live Python thread raises\n"
         "ProcessLookupError instead of crashing the interpreter."),
    FAST(pthread_sigqueue,
         "pthread_sigqueue(thread_id, sig, value=0)\n--\n\n"
         "Queue a signal with a payload to one thread of this process (glibc):\n"
         "si_code SI_QUEUE, delivered to that thread only."),
    FAST(pthread_sigmask,
         "pthread_sigmask(how, mask)\n--\n\n"
         "Change the calling thread's mask; returns the previous one as a set.\n\n"
         "SIGKILL and SIGSTOP are accepted and silently left unblocked, as the\n"
         "kernel does, so blocking valid_signals() works."),
    {"sigpending", fast_sigpending, METH_NOARGS,
     "sigpending()\n--\n\nThe signals pending for the calling thread or the process."},
    {"valid_signals", fast_valid_signals, METH_NOARGS,
     "valid_signals()\n--\n\n"
     "Every valid signal number, as signal.valid_signals() reports them."},
    FAST(strsignal,
         "strsignal(signalnum)\n--\n\n"
         "The C library's description of a signal, like signal.strsignal(): None\n"
         "for a number it reserves (32, 33 on glibc) or cannot describe."),
    FAST(sigwait,
         "sigwait(sigset)\n--\n\n"
         "Wait for one of sigset (blocked in the calling thread); returns its\n"
         "number as a signal.Signals member, like signal.sigwait()."),
    FAST(sigwaitinfo,
         "sigwaitinfo(sigset)\n--\n\n"
         "Wait for one of sigset; returns its SigInfo (a superset of struct_siginfo)."),
    FAST(sigtimedwait,
         "sigtimedwait(sigset, timeout)\n--\n\n"
         "Like sigwaitinfo() with a timeout in seconds; None when it runs out."),
    FAST(sigwaitinfo_many,
         "sigwaitinfo_many(sigset, max=256, timeout=None)\n--\n\n"
         "Block for the first signal of sigset, then take every one already pending,\n"
         "up to max, in the same C call: the high-rate receive path. [] on timeout."),
    FAST(wait_into,
         "wait_into(address, mask, max, timeout, values_only)\n--\n\n"
         "Waiter's wait into its preallocated records."),
    FAST(ring_read,
         "ring_read(address, max, timeout, block, values_only)\n--\n\n"
         "A Listener's read of its ring (fs_ring at address), for the accept= policy\n"
         "path and the checked reads: ListenerCore's methods read without it."),
    FAST(signalfd_read,
         "signalfd_read(fd, max, values_only)\n--\n\n"
         "One read() of up to max records from a signalfd."),
    FAST(records,
         "records(address, n)\n--\n\n"
         "The first n records of a batch (fs_info[] at address) as SigInfo."),
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fast_module = {
    PyModuleDef_HEAD_INIT, "fastsig._fast",
    "The per-call hot paths of fastsig as CPython builtins (csrc/python/_fast.c).",
    -1, fast_methods, NULL, NULL, NULL, NULL,
};

/* The C bases of the Python classes, by module attribute. */
static const struct {
    const char *name;
    PyType_Spec *spec;
} core_types[] = {
    {"ExchangeCore", &xc_spec},
    {"ListenerCore", &lc_spec},
    {"SignalFDCore", &sfd_spec},
};

/* Single-phase init on purpose: the state above is per process, and CPython
 * refuses such a module in an isolated subinterpreter instead of sharing it. */
PyMODINIT_FUNC PyInit__fast(void)
{
    PyObject *module = PyModule_Create(&fast_module), *type;

    if (module == NULL)
        return NULL;
#ifdef Py_GIL_DISABLED
    PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED);
#endif
    tuple_items_follow_header = runtime_before(3, 14);
    for (size_t i = 0; i < sizeof core_types / sizeof core_types[0]; i++) {
        type = PyType_FromSpec(core_types[i].spec);
        if (type == NULL || PyModule_AddObject(module, core_types[i].name, type) < 0) {
            Py_XDECREF(type);
            Py_DECREF(module);
            return NULL;
        }
    }
    return module;
}
