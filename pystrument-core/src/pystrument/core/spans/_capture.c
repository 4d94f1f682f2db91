/* The hot path of SQL span capture, in C (docs/spans.md, "Cost").
 *
 * ``SpanLog(max_spans)`` is a unit's span store (``unit.spans``): the fast SQL spans as C structs (no Python object
 * made per span, so nothing for the garbage collector to count either), the others (HTTP calls, failed queries, the
 * library-level hooks) as the raw tuples ``capture.file_span`` appends; ``left`` and ``dropped`` count its bound.
 * ``build(...)`` makes the ``Span`` structs in the background thread, in filing order.
 *
 * ``install(cls, execute, executemany, db)`` sets ``cls.execute`` and ``cls.executemany`` to method descriptors of
 * this module: each runs the driver's own method (``execute``/``executemany``, called from C) and, while a sampled
 * unit that keeps spans runs in the context, times it and files a raw span on the unit, exactly as
 * ``capture.spanned()`` does in Python (that function stays the fallback where this module was not built).
 *
 * Why C: while a unit is profiled in detail, pyinstrument's profile hook is on, and every Python call and every
 * call of a C function made from Python code is a profiler event, and every bytecode runs under the hook. A method
 * descriptor of C is one C call for the profiler, exactly as the driver's own method, whose name it carries
 * ("execute"), and everything else here (the context variables, the clock, the frame walk, the raw tuple) makes
 * no profiler event at all.
 *
 * Failures of this module's own work (never the driver's exception, which is the host's) go to
 * ``failsafe.report`` and the driver's result is returned: span capture never raises into the host.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <math.h>
#include <stddef.h>
#include <structmember.h>
#include <string.h>
#include <time.h>

#define MAX_FRAMES 100 /* as capture.MAX_FRAMES */
#define SMALL_STACK 8

/* set by configure() */
static PyObject *current_unit; /* ContextVar: the unit running in this context */
static PyObject *outer;        /* ContextVar: True while a library-level span is open */
static PyObject *app_files;    /* set of source file names classified as the application's */
static PyObject *lib_files;    /* set of source file names classified as not */
static PyObject *classify;     /* capture._classify(filename) -> bool (adds it to one of the sets) */
static PyObject *file_span;    /* capture.file_span: a failed query's span */
static PyObject *report;       /* failsafe.report(where, exc) */
static PyObject *perf_counter; /* time.perf_counter, where the clock is not read here */
static int outer_seen;         /* a library-level hook has run (capture.open_outer): until then ``outer`` is not read */
/* Unit's ``spans`` slot, read at its offset for a Unit (no attribute lookup); other objects through getattr */
static PyTypeObject *unit_type;
static Py_ssize_t spans_offset;
/* the last class looked up in ``drivers`` and its entry (borrowed: ``drivers`` keeps it; reset by install()) */
static PyTypeObject *last_class;
static PyObject *last_entry;
/* class -> (execute, executemany, db): the driver's methods and the system's name, by installing class */
static PyObject *drivers;
/* interned names and constants */
static PyObject *s_spans, *s_sql, *s_empty, *s_error, *s_name;
static PyObject *zero;
static PyObject *error_kwnames; /* ("error",) */

static int
configured(void)
{
    if (current_unit == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "pystrument.core.spans._capture: configure() was not called");
        return 0;
    }
    return 1;
}

/* perf_counter's clock as a float, without a Python call where CPython's is CLOCK_MONOTONIC (Linux) */
static int
now(double *out)
{
#if defined(__linux__)
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0) {
        *out = (double)((long long)ts.tv_sec * 1000000000LL + ts.tv_nsec) / 1e9;
        return 0;
    }
#endif
    PyObject *value = PyObject_CallNoArgs(perf_counter);
    if (value == NULL) {
        return -1;
    }
    *out = PyFloat_AsDouble(value);
    Py_DECREF(value);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* The current exception, taken off (new reference), and put back */
static PyObject *
take_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && tb != NULL) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

static void
put_exception(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
#endif
}

/* Our own failure (never the driver's): to failsafe.report, cleared */
static void
report_own_error(void)
{
    PyObject *exc = take_exception();
    if (exc == NULL) {
        return;
    }
    PyObject *where = PyUnicode_FromString("span capture (C)");
    PyObject *done = where ? PyObject_CallFunctionObjArgs(report, where, exc, NULL) : NULL;
    if (done == NULL) {
        PyErr_WriteUnraisable(report);
    }
    Py_XDECREF(done);
    Py_XDECREF(where);
    Py_DECREF(exc);
}


/* ---- SpanLog: a unit's spans ---- */

typedef struct {
    double t0, t1;
    PyObject *text; /* fast SQL span: the statement object as given (new reference); NULL for a raw tuple entry */
    PyObject *db;
    PyObject *code; /* the issuing application frame's code object, or NULL */
    int line;
    PyObject *raw; /* a span filed from Python: its raw 11-tuple (capture.Raw); NULL for a fast SQL span */
} Entry;

typedef struct {
    PyObject_HEAD
    Entry *entries;
    Py_ssize_t size, capacity;
    Py_ssize_t left;    /* room left (max_spans, counted down) */
    Py_ssize_t dropped; /* spans not kept for want of room */
} SpanLog;

static PyTypeObject SpanLog_Type;

static Entry *
log_new_entry(SpanLog *log)
{
    if (log->size == log->capacity) {
        Py_ssize_t capacity = log->capacity ? log->capacity * 2 : 16;
        Entry *grown = PyMem_Realloc(log->entries, (size_t)capacity * sizeof(Entry));
        if (grown == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        log->entries = grown;
        log->capacity = capacity;
    }
    Entry *entry = &log->entries[log->size++];
    memset(entry, 0, sizeof(Entry));
    return entry;
}

static PyObject *
SpanLog_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    Py_ssize_t max_spans;
    if (!PyArg_ParseTuple(args, "n:SpanLog", &max_spans)) {
        return NULL;
    }
    SpanLog *log = PyObject_New(SpanLog, type);
    if (log == NULL) {
        return NULL;
    }
    log->entries = NULL;
    log->size = log->capacity = 0;
    log->left = max_spans;
    log->dropped = 0;
    return (PyObject *)log;
}

static void
SpanLog_clear(SpanLog *log)
{
    Py_ssize_t size = log->size;
    log->size = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        Entry *entry = &log->entries[i];
        Py_CLEAR(entry->text);
        Py_CLEAR(entry->db);
        Py_CLEAR(entry->code);
        Py_CLEAR(entry->raw);
    }
}

static void
SpanLog_dealloc(SpanLog *log)
{
    SpanLog_clear(log);
    PyMem_Free(log->entries);
    PyObject_Free(log);
}

static Py_ssize_t
SpanLog_len(SpanLog *log)
{
    return log->size;
}

static PyObject *
SpanLog_append(SpanLog *log, PyObject *raw)
{
    if (!PyTuple_CheckExact(raw) || PyTuple_GET_SIZE(raw) != 11) {
        PyErr_SetString(PyExc_TypeError, "SpanLog.append: a raw span is an 11-tuple (capture.Raw)");
        return NULL;
    }
    Entry *entry = log_new_entry(log);
    if (entry == NULL) {
        return NULL;
    }
    entry->raw = Py_NewRef(raw);
    Py_RETURN_NONE;
}

/* rounded to the µs, as build.py's Python: ((x * 1e6 + 0.5) // 1.0) / 1000.0 */
static double
to_ms(double seconds)
{
    return floor(seconds * 1e6 + 0.5) / 1000.0;
}

/* build(base, statements, statement_of, from_raw, Span) -> list[Span], in filing order */
static PyObject *
SpanLog_build(SpanLog *log, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyFloat_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "SpanLog.build(base: float, statements: dict, statement_of, from_raw, Span)");
        return NULL;
    }
    double base = PyFloat_AS_DOUBLE(args[0]);
    PyObject *statements = args[1], *statement_of = args[2], *from_raw = args[3], *span_type = args[4];
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < log->size; i++) {
        Entry *entry = &log->entries[i];
        PyObject *span;
        if (entry->raw != NULL) {
            span = PyObject_CallFunctionObjArgs(from_raw, args[0], entry->raw, NULL);
        }
        else {
            PyObject *statement = NULL;
            if (PyUnicode_CheckExact(entry->text)) {
                statement = Py_XNewRef(PyDict_GetItemWithError(statements, entry->text));
            }
            if (statement == NULL && !PyErr_Occurred()) {
                statement = PyObject_CallOneArg(statement_of, entry->text);
            }
            PyObject *start = PyFloat_FromDouble(to_ms(entry->t0 - base));
            PyObject *duration = PyFloat_FromDouble(to_ms(entry->t1 - entry->t0));
            PyObject *line = PyLong_FromLong(entry->line);
            PyCodeObject *code = (PyCodeObject *)entry->code;
            span = NULL;
            if (statement != NULL && start != NULL && duration != NULL && line != NULL) {
                PyObject *fields[14] = {NULL, s_sql, start, duration, statement, entry->db, s_empty, s_empty, s_empty,
                                        zero, s_empty, code ? code->co_filename : s_empty, line,
                                        code ? code->co_name : s_empty};
                span = PyObject_Vectorcall(span_type, fields + 1, 13 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
            }
            Py_XDECREF(statement);
            Py_XDECREF(start);
            Py_XDECREF(duration);
            Py_XDECREF(line);
        }
        if (span == NULL || PyList_Append(out, span) < 0) {
            Py_XDECREF(span);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(span);
    }
    return out;
}

static PyMemberDef SpanLog_members[] = {
    {"left", T_PYSSIZET, offsetof(SpanLog, left), 0, "room left for spans (max_spans_per_unit, counted down)"},
    {"dropped", T_PYSSIZET, offsetof(SpanLog, dropped), 0, "spans not kept for want of room"},
    {NULL}};

static PyMethodDef SpanLog_methods[] = {
    {"append", (PyCFunction)SpanLog_append, METH_O, "append(raw): a span filed from Python (capture.Raw)"},
    {"build", (PyCFunction)(void (*)(void))SpanLog_build, METH_FASTCALL,
     "build(base, statements, statement_of, from_raw, Span) -> list[Span] (spans/build.py)"},
    {NULL}};

static PySequenceMethods SpanLog_as_sequence = {.sq_length = (lenfunc)SpanLog_len};

static PyTypeObject SpanLog_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pystrument.core.spans._capture.SpanLog",
    .tp_doc = "SpanLog(max_spans): a unit's spans, bounded (fast SQL spans as C structs, others as raw tuples)",
    .tp_basicsize = sizeof(SpanLog),
    /* not tracked by the garbage collector: what it holds (statements, code objects, raw tuples of scalars) holds
     * no unit, so no cycle passes through it, and a unit's log must not count towards a collection per request */
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = SpanLog_new,
    .tp_dealloc = (destructor)SpanLog_dealloc,
    .tp_as_sequence = &SpanLog_as_sequence,
    .tp_members = SpanLog_members,
    .tp_methods = SpanLog_methods,
};

/* The unit's SpanLog (new reference) when it keeps spans and no library-level span is open, else NULL (and -1
 * with an exception set on error) */
static int
log_of(PyObject *unit, SpanLog **out)
{
    *out = NULL;
    if (unit == NULL || unit == Py_None) {
        return 0;
    }
    PyObject *log;
    if (Py_TYPE(unit) == unit_type) {
        log = *(PyObject **)((char *)unit + spans_offset);
        if (log == NULL) { /* the slot was never set: no spans */
            return 0;
        }
        Py_INCREF(log);
    }
    else if ((log = PyObject_GetAttr(unit, s_spans)) == NULL) {
        return -1;
    }
    if (!Py_IS_TYPE(log, &SpanLog_Type)) { /* None: this unit keeps no spans */
        Py_DECREF(log);
        return 0;
    }
    if (outer_seen) {
        PyObject *is_outer = NULL;
        if (PyContextVar_Get(outer, Py_False, &is_outer) < 0) {
            Py_DECREF(log);
            return -1;
        }
        int open = is_outer == Py_True;
        Py_DECREF(is_outer);
        if (open) {
            Py_DECREF(log);
            return 0;
        }
    }
    *out = (SpanLog *)log;
    return 1;
}

/* The issuing application frame (code object, new reference, and line) or (NULL, 0): the walk of capture.py */
static int
app_frame(PyObject **code_out, int *line_out)
{
    *code_out = NULL;
    *line_out = 0;
    PyFrameObject *frame = PyEval_GetFrame(); /* borrowed: the Python frame that called the method */
    Py_XINCREF(frame);
    for (int depth = 0; frame != NULL && depth < MAX_FRAMES; depth++) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        PyObject *filename = code->co_filename;
        int app = PySet_Contains(app_files, filename);
        if (app == 0) {
            int lib = PySet_Contains(lib_files, filename);
            if (lib == 0) {
                PyObject *verdict = PyObject_CallOneArg(classify, filename);
                app = verdict == NULL ? -1 : PyObject_IsTrue(verdict);
                Py_XDECREF(verdict);
            }
            else if (lib < 0) {
                app = -1;
            }
        }
        if (app != 0) {
            if (app > 0) {
                *code_out = (PyObject *)code;
                *line_out = PyFrame_GetLineNumber(frame);
            }
            else {
                Py_DECREF(code);
            }
            Py_DECREF(frame);
            return app < 0 ? -1 : 0;
        }
        Py_DECREF(code);
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
    }
    Py_XDECREF(frame);
    return 0;
}

/* File a fast SQL span on the log, or count it when the log has no room */
static int
log_file(SpanLog *log, double t0, double t1, PyObject *statement, PyObject *db)
{
    if (log->left <= 0) {
        log->dropped++;
        return 0;
    }
    PyObject *code;
    int line;
    if (app_frame(&code, &line) < 0) {
        return -1;
    }
    Entry *entry = log_new_entry(log);
    if (entry == NULL) {
        Py_XDECREF(code);
        return -1;
    }
    log->left--;
    entry->t0 = t0;
    entry->t1 = t1;
    entry->text = Py_NewRef(statement);
    entry->db = Py_NewRef(db);
    entry->code = code;
    entry->line = line;
    return 0;
}

/* A failed query: its span filed by capture.file_span (Python: the rare path), the driver's exception kept */
static void
file_failed(PyObject *unit, double t0, PyObject *statement, PyObject *db)
{
    PyObject *exc = take_exception();
    PyObject *error = exc ? PyObject_GetAttr((PyObject *)Py_TYPE(exc), s_name) : NULL;
    PyObject *t0_obj = PyFloat_FromDouble(t0);
    if (error != NULL && t0_obj != NULL) {
        PyObject *args[7] = {NULL, unit, s_sql, t0_obj, statement, db, error};
        PyObject *done = PyObject_Vectorcall(file_span, args + 1, 5 | PY_VECTORCALL_ARGUMENTS_OFFSET, error_kwnames);
        Py_XDECREF(done);
    }
    if (PyErr_Occurred()) {
        report_own_error();
    }
    Py_XDECREF(t0_obj);
    Py_XDECREF(error);
    if (exc != NULL) {
        put_exception(exc);
    }
}

static PyObject *
spanned(PyObject *self, PyTypeObject *cls, PyObject *const *args, size_t nargsf, PyObject *kwnames, int many)
{
    if (!configured()) {
        return NULL;
    }
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *entry = cls == last_class ? last_entry : PyDict_GetItemWithError(drivers, (PyObject *)cls); /* borrowed */
    if (entry != NULL) {
        last_class = cls;
        last_entry = entry;
    }
    else {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "pystrument: no driver methods installed for %s", cls->tp_name);
        }
        return NULL;
    }
    PyObject *call = PyTuple_GET_ITEM(entry, many);
    PyObject *db = PyTuple_GET_ITEM(entry, 2);
    /* the driver's method gets (self, *args, **kwargs): one slot before self for PY_VECTORCALL_ARGUMENTS_OFFSET */
    Py_ssize_t total = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
    PyObject *small[SMALL_STACK];
    PyObject **stack = small;
    if (total + 2 > SMALL_STACK) {
        stack = PyMem_Malloc((size_t)(total + 2) * sizeof(PyObject *));
        if (stack == NULL) {
            return PyErr_NoMemory();
        }
    }
    stack[1] = self;
    if (total > 0) {
        memcpy(stack + 2, args, (size_t)total * sizeof(PyObject *));
    }
    size_t call_nargsf = (size_t)(nargs + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET;

    PyObject *unit = NULL;
    SpanLog *log = NULL;
    if (nargs >= 1) {
        if (PyContextVar_Get(current_unit, Py_None, &unit) < 0 || log_of(unit, &log) < 0) {
            report_own_error();
        }
    }
    PyObject *result;
    double t0 = 0.0, t1 = 0.0;
    if (log != NULL && now(&t0) < 0) {
        report_own_error();
        Py_CLEAR(log);
    }
    result = PyObject_Vectorcall(call, stack + 1, call_nargsf, kwnames);
    if (log != NULL) {
        if (result == NULL) {
            file_failed(unit, t0, args[0], db);
        }
        else if (now(&t1) < 0 || log_file(log, t0, t1, args[0], db) < 0) {
            report_own_error();
        }
        Py_DECREF(log);
    }
    Py_XDECREF(unit);
    if (stack != small) {
        PyMem_Free(stack);
    }
    return result;
}

static PyObject *
execute(PyObject *self, PyTypeObject *cls, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    return spanned(self, cls, args, nargsf, kwnames, 0);
}

static PyObject *
executemany(PyObject *self, PyTypeObject *cls, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    return spanned(self, cls, args, nargsf, kwnames, 1);
}

static PyMethodDef execute_def = {
    "execute", (PyCFunction)(void (*)(void))execute, METH_METHOD | METH_FASTCALL | METH_KEYWORDS,
    "The driver's execute, timed and filed as a SQL span while a sampled unit keeps spans (pystrument)."};
static PyMethodDef executemany_def = {
    "executemany", (PyCFunction)(void (*)(void))executemany, METH_METHOD | METH_FASTCALL | METH_KEYWORDS,
    "The driver's executemany, timed and filed as a SQL span while a sampled unit keeps spans (pystrument)."};

static PyObject *
install(PyObject *module, PyObject *args)
{
    PyObject *cls, *execute_call, *executemany_call, *db;
    if (!PyArg_ParseTuple(args, "O!OOU:install", &PyType_Type, &cls, &execute_call, &executemany_call, &db)) {
        return NULL;
    }
    if (!configured()) {
        return NULL;
    }
    PyObject *entry = PyTuple_Pack(3, execute_call, executemany_call, db);
    if (entry == NULL || PyDict_SetItem(drivers, cls, entry) < 0) {
        Py_XDECREF(entry);
        return NULL;
    }
    Py_DECREF(entry);
    last_class = NULL; /* the dict may have replaced the cached entry */
    last_entry = NULL;
    PyMethodDef *defs[2] = {&execute_def, &executemany_def};
    for (int i = 0; i < 2; i++) {
        PyObject *descr = PyDescr_NewMethod((PyTypeObject *)cls, defs[i]);
        if (descr == NULL || PyObject_SetAttrString(cls, defs[i]->ml_name, descr) < 0) {
            Py_XDECREF(descr);
            return NULL;
        }
        Py_DECREF(descr);
    }
    Py_RETURN_NONE;
}

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyObject *values[8];
    if (!PyArg_ParseTuple(args, "OOO!O!OOOO:configure", &values[0], &values[1], &PySet_Type, &values[2],
                          &PySet_Type, &values[3], &values[4], &values[5], &values[6], &values[7])) {
        return NULL;
    }
    if (!PyContextVar_CheckExact(values[0]) || !PyContextVar_CheckExact(values[1])) {
        PyErr_SetString(PyExc_TypeError, "configure: current_unit and outer must be ContextVars");
        return NULL;
    }
    PyObject **slots[8] = {&current_unit, &outer, &app_files, &lib_files, &classify, &file_span, &report, &perf_counter};
    for (int i = 0; i < 8; i++) {
        Py_XSETREF(*slots[i], Py_NewRef(values[i]));
    }
    Py_RETURN_NONE;
}

static PyObject *
set_unit_type(PyObject *module, PyObject *type)
{
    if (!PyType_Check(type)) {
        PyErr_SetString(PyExc_TypeError, "set_unit_type: a class with a __slots__ member 'spans'");
        return NULL;
    }
    PyObject *member = PyDict_GetItemWithError(((PyTypeObject *)type)->tp_dict, s_spans); /* borrowed */
    if (member == NULL || !Py_IS_TYPE(member, &PyMemberDescr_Type) ||
        ((PyMemberDescrObject *)member)->d_member->type != T_OBJECT_EX) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "set_unit_type: %s has no __slots__ member 'spans'", ((PyTypeObject *)type)->tp_name);
        }
        return NULL;
    }
    spans_offset = ((PyMemberDescrObject *)member)->d_member->offset;
    Py_XSETREF(unit_type, (PyTypeObject *)Py_NewRef(type));
    Py_RETURN_NONE;
}

static PyObject *
see_outer(PyObject *module, PyObject *unused)
{
    outer_seen = 1;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"see_outer", see_outer, METH_NOARGS, "a library-level hook has run: read ``outer`` from now on"},
    {"set_unit_type", set_unit_type, METH_O, "set_unit_type(Unit): read Unit's spans slot at its offset"},
    {"configure", configure, METH_VARARGS,
     "configure(current_unit, outer, app_files, lib_files, classify, file_span, report, perf_counter)"},
    {"install", install, METH_VARARGS,
     "install(cls, execute, executemany, db): cls.execute/executemany become span-filing C methods around the "
     "driver's"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_capture", "SQL span capture's hot path in C (pystrument.core.spans.capture).", -1,
    module_methods};

PyMODINIT_FUNC
PyInit__capture(void)
{
    drivers = PyDict_New();
    s_spans = PyUnicode_InternFromString("spans");
    s_sql = PyUnicode_InternFromString("sql");
    s_empty = PyUnicode_InternFromString("");
    s_error = PyUnicode_InternFromString("error");
    s_name = PyUnicode_InternFromString("__name__");
    zero = PyLong_FromLong(0);
    error_kwnames = s_error ? PyTuple_Pack(1, s_error) : NULL;
    if (drivers == NULL || s_spans == NULL || s_sql == NULL || s_empty == NULL || s_name == NULL || zero == NULL ||
        error_kwnames == NULL || PyType_Ready(&SpanLog_Type) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module != NULL && PyModule_AddObjectRef(module, "SpanLog", (PyObject *)&SpanLog_Type) < 0) {
        Py_CLEAR(module);
    }
    return module;
}
