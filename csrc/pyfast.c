/*
 * The one hot path that does not go through cffi: fastsig.sigqueue() as a
 * CPython builtin.
 *
 * Why (bench/send_cost.py, 2-core VM): os.kill() to a blocked signal costs
 * ~680 ns, nearly all of it the syscall. A raw cffi call of fs_sigqueue() adds
 * ~50-60 ns (argument tuple, generic conversions, GIL release, errno
 * save/restore: 1.06-1.10x), and a Python wrapper that validates its arguments
 * adds ~700 ns more (2.05x), against issue 2's target of 1.1x. This builtin
 * keeps only the common case: two or three positional arguments, a pid and a
 * value that are ints (int subclasses such as signal.Signals too, never bool)
 * in range, a signal given as such an int or as a name the Python side has
 * already parsed, and a send that succeeds. Anything else (new names, wrong
 * types, out-of-range values, keywords) goes to the Python implementation, and
 * a failed send to the Python code that builds the exception, so every error
 * is raised by one piece of Python. The GIL is kept across the call:
 * rt_sigqueueinfo never blocks.
 *
 * Built only inside the extension, where Python.h is on the include path; a
 * standalone build of csrc/ (the sanitizer tests) compiles this file to nothing.
 */
#if defined(__has_include)
#if __has_include(<Python.h>) && !defined(PYPY_VERSION)
#define FS_WITH_PYTHON 1
#endif
#endif

#ifdef FS_WITH_PYTHON
#include <pyconfig.h>
/* Build against the limited API like cffi's own code (the wheel is cp39-abi3),
 * except where CPython has none (free-threaded, debug builds). */
#if !defined(Py_LIMITED_API) && !defined(Py_GIL_DISABLED) && !defined(Py_DEBUG) \
    && !defined(Py_TRACE_REFS) && !defined(Py_REF_DEBUG)
#define Py_LIMITED_API 0x03090000
#endif
#include <Python.h>

#include "internal.h"

#include <stdint.h>

/* Set by fs_py_export(), read-only afterwards. */
static PyObject *checked_sigqueue;  /* the Python sigqueue: validates, raises */
static PyObject *raise_send_error;  /* (errno, syscall) -> raises the right OSError */
static PyObject *signal_names;      /* str -> int: the names the checked path parsed */
static uint64_t valid_mask;         /* bit n-1: signal n may be sent */

/* o as a C integer in lo..hi; 0 (and no exception) for anything else. */
static int int_in_range(PyObject *o, long long lo, long long hi, long long *out)
{
    int overflow;
    long long v;

    if (!PyLong_Check(o) || PyBool_Check(o))
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

/* A signal given by a name seen before, or as an int. */
static int signal_in_range(PyObject *o, long long *out)
{
    if (PyUnicode_Check(o)) {
        /* Borrowed: the values are small ints, which live for ever. */
        o = PyDict_GetItem(signal_names, o);
        if (o == NULL)
            return 0;
    }
    return int_in_range(o, 1, FS_NSIG - 1, out);
}

static PyObject *fast_sigqueue(PyObject *self, PyObject *args, PyObject *kwargs)
{
    long long pid, sig, value = 0;
    Py_ssize_t n = PyTuple_Size(args);
    (void)self;

    if (kwargs == NULL && (n == 2 || n == 3)
        && int_in_range(PyTuple_GetItem(args, 0), 1, INT32_MAX, &pid)
        && signal_in_range(PyTuple_GetItem(args, 1), &sig)
        && ((valid_mask >> (sig - 1)) & 1u)
        && (n == 2 || int_in_range(PyTuple_GetItem(args, 2), INTPTR_MIN, INTPTR_MAX, &value))) {
        if (fs_sigqueue((int32_t)pid, (int)sig, (int64_t)value) == 0) {
            /* As os.kill() does: a signal sent to ourselves runs its Python
             * handler now, not at some later bytecode. */
            if (PyErr_CheckSignals() < 0)
                return NULL;
            Py_RETURN_NONE;
        }
        PyObject *ret = PyObject_CallFunction(raise_send_error, "is", errno, "sigqueue");
        if (ret != NULL) {
            Py_DECREF(ret);
            PyErr_SetString(PyExc_SystemError, "fastsig: a failed sigqueue raised nothing");
        }
        return NULL;
    }
    return PyObject_Call(checked_sigqueue, args, kwargs);
}

static PyMethodDef fast_sigqueue_def = {
    "sigqueue", (PyCFunction)(void (*)(void))fast_sigqueue, METH_VARARGS | METH_KEYWORDS,
    "sigqueue(pid, sig, value=0)\n--\n\n"
    "Queue signal sig with the integer payload value (pointer-width sigval) to\n"
    "process pid, in one syscall. sig may be an int, a signal.Signals or a name\n"
    "('SIGRTMIN+1', 'USR1'). Real-time signals queue in order, lowest number\n"
    "first; standard signals (1-31) coalesce while pending, payload included.\n"
    "A full queue (EAGAIN, RLIMIT_SIGPENDING) raises fastsig.QueueFull, a\n"
    "BlockingIOError: nothing is dropped silently. Bad arguments raise\n"
    "TypeError/ValueError/OverflowError before any syscall.",
};

/* Exchange.send_wait_value() as a builtin bound to one Exchange's buffers.
 *
 * Why (issue 4's ping-pong, pinned to one CPU): a round trip crosses into C
 * once per side, and cffi's generic call plus the Python method around it
 * cost ~0.5 us a side: two Python peers took 1.36x the pure-C round trip
 * (1.21x with the Python layer trimmed), against a target of 1.15x; this
 * builtin: 1.11x. It handles only an int value in range and a completed round
 * trip; anything else (another type, a timeout, an error, EINTR) goes to the
 * Exchange's Python slow(value, n, errno, start_ns), so every result but the
 * common one and every error is made by one piece of Python. The GIL is released while
 * the call waits. */
typedef struct {
    fs_exchange *x;
    fs_info *out;
    PyObject *slow;  /* slow(value, n, errno, start_ns) -> the reply's value or None; raises */
    PyObject *keep;  /* owns x and out (the cffi buffers) */
} bound_exchange;

#define FS_EXCHANGE_CAPSULE "fastsig.exchange"
#define FS_EXCHANGE_NOT_INT -3  /* n given to slow() when value was not taken */

static void bound_exchange_free(PyObject *capsule)
{
    bound_exchange *b = PyCapsule_GetPointer(capsule, FS_EXCHANGE_CAPSULE);
    if (b != NULL) {
        Py_XDECREF(b->slow);
        Py_XDECREF(b->keep);
        PyMem_Free(b);
    }
}

static PyObject *exchange_value(PyObject *self, PyObject *value_obj)
{
    bound_exchange *b = PyCapsule_GetPointer(self, FS_EXCHANGE_CAPSULE);
    long long value, start_ns = 0;
    struct timespec start;
    int n, err = 0;

    if (b == NULL)
        return NULL;
    /* When the round trip began, for the time left after an EINTR; a wait
     * without a timeout needs none. CLOCK_MONOTONIC is time.monotonic_ns(). */
    if (b->x->timeout_ns >= 0 && clock_gettime(CLOCK_MONOTONIC, &start) == 0)
        start_ns = (long long)start.tv_sec * 1000000000 + start.tv_nsec;
    if (!int_in_range(value_obj, INTPTR_MIN, INTPTR_MAX, &value))
        return PyObject_CallFunction(b->slow, "OiiL", value_obj, FS_EXCHANGE_NOT_INT, 0,
                                     start_ns);
    b->x->value = (int64_t)value;
    Py_BEGIN_ALLOW_THREADS
    n = fs_exchange_once(b->x, b->out);
    if (n < 0)
        err = errno;
    Py_END_ALLOW_THREADS
    if (n == 1)
        return PyLong_FromLongLong((long long)b->out->value);
    return PyObject_CallFunction(b->slow, "OiiL", value_obj, n, err, start_ns);
}

static PyMethodDef exchange_value_def = {
    "send_wait_value", exchange_value, METH_O,
    "send_wait_value(value)\n--\n\n"
    "Send value, wait for one reply, in one C call; the reply's si_value,\n"
    "or None if the timeout ran out.",
};

/* _bind_exchange(x_address, out_address, slow, keep) -> a builtin
 * send_wait_value(value) working on the fs_exchange and fs_info at those
 * addresses, which `keep` owns (and is kept alive with the builtin). slow
 * must not refer to the builtin: a capsule is invisible to the cycle GC. */
static PyObject *bind_exchange(PyObject *self, PyObject *args)
{
    unsigned long long x, out;
    PyObject *slow, *keep, *capsule, *fn;
    bound_exchange *b;
    (void)self;

    if (!PyArg_ParseTuple(args, "KKOO", &x, &out, &slow, &keep))
        return NULL;
    if (x == 0 || out == 0 || !PyCallable_Check(slow)) {
        PyErr_SetString(PyExc_ValueError, "_bind_exchange: null buffer or slow not callable");
        return NULL;
    }
    b = PyMem_Malloc(sizeof *b);
    if (b == NULL)
        return PyErr_NoMemory();
    b->x = (fs_exchange *)(uintptr_t)x;
    b->out = (fs_info *)(uintptr_t)out;
    Py_INCREF(slow);
    Py_INCREF(keep);
    b->slow = slow;
    b->keep = keep;
    capsule = PyCapsule_New(b, FS_EXCHANGE_CAPSULE, bound_exchange_free);
    if (capsule == NULL) {
        Py_DECREF(slow);
        Py_DECREF(keep);
        PyMem_Free(b);
        return NULL;
    }
    fn = PyCFunction_NewEx(&exchange_value_def, capsule, NULL);
    Py_DECREF(capsule);
    return fn;
}

static PyMethodDef bind_exchange_def = {
    "_bind_exchange", bind_exchange, METH_VARARGS,
    "_bind_exchange(x_address, out_address, slow, keep)\n--\n\n"
    "Exchange's fast path; see csrc/pyfast.c.",
};

/* Takes the GIL itself: cffi releases it around every call. */
int fs_py_export(const char *module_name)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *module = NULL, *name = NULL, *checked = NULL, *raiser = NULL, *names = NULL;
    PyObject *builtin = NULL, *binder = NULL;
    int rc = -1;

    module = PyImport_ImportModule(module_name);
    if (module != NULL)
        checked = PyObject_GetAttrString(module, "_sigqueue_checked");
    if (checked != NULL)
        raiser = PyObject_GetAttrString(module, "_raise_send_error");
    if (raiser != NULL)
        names = PyObject_GetAttrString(module, "_signal_names");
    if (names != NULL && !PyDict_Check(names))
        Py_CLEAR(names);
    if (names != NULL)
        name = PyUnicode_FromString(module_name);  /* its __module__, for pickle */
    if (name != NULL)
        builtin = PyCFunction_NewEx(&fast_sigqueue_def, NULL, name);
    if (builtin != NULL)
        binder = PyCFunction_NewEx(&bind_exchange_def, NULL, name);
    if (binder != NULL && PyObject_SetAttrString(module, "_bind_exchange", binder) == 0
        && PyObject_SetAttrString(module, "_sigqueue_fast", builtin) == 0) {
        uint64_t mask = 0;
        for (int sig = 1; sig < FS_NSIG; sig++) {
            if (sig < 32 || (sig >= fs_sigrtmin() && sig <= fs_sigrtmax()))
                mask |= (uint64_t)1 << (sig - 1);
        }
        valid_mask = mask;
        /* A second export (importlib.reload) replaces these; the old ones
         * are leaked on purpose, as another thread may be using them now. */
        checked_sigqueue = checked;
        raise_send_error = raiser;
        signal_names = names;
        checked = raiser = names = NULL;
        rc = 0;
    }
    if (rc < 0)
        PyErr_Clear();
    Py_XDECREF(binder);
    Py_XDECREF(builtin);
    Py_XDECREF(name);
    Py_XDECREF(names);
    Py_XDECREF(raiser);
    Py_XDECREF(checked);
    Py_XDECREF(module);
    PyGILState_Release(gil);
    if (rc < 0)
        errno = EINVAL;
    return rc;
}

#else /* no Python.h: a standalone build of the C core */

#include "internal.h"

int fs_py_export(const char *module_name)
{
    (void)module_name;
    errno = ENOSYS;
    return -1;
}

#endif
