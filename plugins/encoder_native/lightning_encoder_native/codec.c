/* The byte-level codec of the kv-native kernel; see codec.h. */
#include "codec.h"

PyObject *DecimalType;

/* --- byte buffers ------------------------------------------------------------------------ */

int buf_reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *p = PyMem_Realloc(b->p, cap);
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

/* append the bytes a Python callable returns for value */
int buf_call(Buf *b, PyObject *fn, PyObject *value) {
    PyObject *out = PyObject_CallOneArg(fn, value);
    if (!out) return -1;
    if (!PyBytes_Check(out)) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_TypeError, "an encoder callable returned non-bytes");
        return -1;
    }
    int rc = buf_pybytes(b, out);
    Py_DECREF(out);
    return rc;
}

/* --- CRC-64/XZ (ECMA-182 reflected), slicing by 8 ---------------------------------------- */

uint64_t crc_table[8][256];

void crc_init(void) {
    for (int i = 0; i < 256; i++) {
        uint64_t c = (uint64_t)i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0xC96C5795D7870F42ULL : c >> 1;
        crc_table[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

/* --- datum payloads ---------------------------------------------------------------------- */

/* packed DATE/DATETIME/TIMESTAMP of a MysqlTime (a 7-tuple); -1 with no error set: odd shape */
int pack_time(PyObject *v, uint64_t *out) {
    if (!PyTuple_Check(v) || PyTuple_GET_SIZE(v) != 7) return -1;
    long long f[7];
    for (int i = 0; i < 7; i++) {
        PyObject *item = PyTuple_GET_ITEM(v, i);
        if (!PyLong_CheckExact(item)) return -1;
        int overflow = 0;
        f[i] = PyLong_AsLongLongAndOverflow(item, &overflow);
        if (overflow || f[i] < 0 || f[i] > 0xFFFFFF) return -1;
    }
    uint64_t ymd = (((uint64_t)f[0] * 13 + (uint64_t)f[1]) << 5) | (uint64_t)f[2];
    uint64_t hms = ((uint64_t)f[3] << 12) | ((uint64_t)f[4] << 6) | (uint64_t)f[5];
    *out = (((ymd << 17) | hms) << 24) | (uint64_t)f[6];
    return 0;
}

/* Characters of valid UTF-8 (-1 if invalid); *four: a 4-byte sequence occurs. stop_chars >= 0:
 * *cut = bytes of the first stop_chars characters. */
Py_ssize_t utf8_scan(const unsigned char *s, Py_ssize_t n, int *four, Py_ssize_t stop_chars,
                            Py_ssize_t *cut) {
    Py_ssize_t i = 0, chars = 0;
    while (i < n) {
        if (chars == stop_chars && cut) *cut = i;
        if (s[i] < 0x80) {
            i++;
            chars++;
            continue;
        }
        Py_ssize_t len = utf8_next(s + i, n - i);
        if (len < 0) return -1;
        if (len == 4 && four) *four = 1;
        i += len;
        chars++;
    }
    if (chars == stop_chars && cut) *cut = i;
    return chars;
}

/* --- decimals ---------------------------------------------------------------------------- */

static const int DIG2BYTES[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};

/* A Decimal's sign, coefficient digits (no leading zeros; "0" for zero) and exponent, read from
 * its plain str() form: 1 when it has none (scientific notation, NaN, Infinity), -1 on error.
 * str() is C code in _decimal; as_tuple() would build a namedtuple in Python. */
int decimal_parts(PyObject *v, int *negative, unsigned char *digits, int max, int *count,
                         long *exponent) {
    if (Py_TYPE(v) != (PyTypeObject *)DecimalType) return 1;
    PyObject *text = PyObject_Str(v);
    if (!text) return -1;
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(text, &n);
    int rc = 1;
    if (!p) {
        rc = -1;
        goto done;
    }
    Py_ssize_t i = 0;
    *negative = 0;
    if (i < n && p[i] == '-') {
        *negative = 1;
        i++;
    }
    int got = 0, point = 0, frac = 0, any = 0;
    for (; i < n; i++) {
        char c = p[i];
        if (c == '.' && !point) {
            point = 1;
            continue;
        }
        if (c < '0' || c > '9') goto done;
        any = 1;
        if (point) frac++;
        if (got == 0 && c == '0') continue; /* leading zero */
        if (got >= max) goto done;
        digits[got++] = (unsigned char)(c - '0');
    }
    if (!any) goto done;
    if (got == 0) digits[got++] = 0;
    *count = got;
    *exponent = -frac;
    rc = 0;
done:
    Py_DECREF(text);
    return rc;
}

/* The digits of a Decimal at scale f (value * 10**f, exact): 1 when that needs rounding or the
 * value has no plain form (the Python encoder then decides), -1 on error. */
static int decimal_digits(PyObject *v, int f, unsigned char *digits, int max, int *count, int *negative) {
    long e;
    int rc = decimal_parts(v, negative, digits, max, count, &e);
    if (rc) return rc;
    long zeros = e + f;
    if (zeros < 0 || *count + zeros > max) return 1;
    int nonzero = 0;
    for (int i = 0; i < *count; i++) nonzero |= digits[i];
    for (long i = 0; i < zeros; i++) digits[*count + i] = 0;
    *count += (int)zeros;
    *negative = *negative && nonzero;
    return 0;
}

/* MyDecimal binary of DECIMAL(p, f) (lightning_core/kv/mydecimal.py); 1: let Python do it */
static int put_decimal_bin(Buf *b, PyObject *v, int p, int f) {
    if (p < 1 || p > 65 || f < 0 || f > 30 || f > p) return 1;
    unsigned char digits[160], all[65], out[40];
    int count, negative;
    int rc = decimal_digits(v, f, digits, (int)sizeof digits, &count, &negative);
    if (rc) return rc;
    /* drop leading zeros beyond the precision; more significant digits are out of range */
    int skip = 0;
    while (count - skip > p && digits[skip] == 0) skip++;
    if (count - skip > p) return 1;
    memset(all, 0, p);
    memcpy(all + p - (count - skip), digits + skip, count - skip);
    int intg = p - f, pos = 0, size = 0;
    int groups[20], ng = 0;
    if (intg % 9) groups[ng++] = intg % 9;
    for (int i = 0; i < intg / 9; i++) groups[ng++] = 9;
    for (int i = 0; i < f / 9; i++) groups[ng++] = 9;
    if (f % 9) groups[ng++] = f % 9;
    for (int g = 0; g < ng; g++) {
        uint32_t value = 0;
        for (int i = 0; i < groups[g]; i++) value = value * 10 + all[pos++];
        int nbytes = DIG2BYTES[groups[g]];
        for (int i = nbytes - 1; i >= 0; i--) out[size + i] = (unsigned char)(value >> (8 * (nbytes - 1 - i)));
        size += nbytes;
    }
    if (negative)
        for (int i = 0; i < size; i++) out[i] = ~out[i];
    out[0] ^= 0x80;
    return buf_put(b, out, size) < 0 ? -1 : 0;
}

/* precision, scale, binary: 1 when Python must do it */
int put_decimal(Buf *b, PyObject *v, int p, int f) {
    Py_ssize_t start = b->len;
    unsigned char head[2] = {(unsigned char)p, (unsigned char)f};
    if (buf_put(b, head, 2) < 0) return -1;
    int rc = put_decimal_bin(b, v, p, f);
    if (rc) b->len = start;
    return rc;
}

/* --- row format v2 ----------------------------------------------------------------------- */

int row_reset(RowBuilder *r, Py_ssize_t columns) {
    r->data.len = 0;
    r->nn = r->nnull = 0;
    if (columns > r->cap) {
        PyMem_Free(r->ids);
        PyMem_Free(r->ends);
        PyMem_Free(r->null_ids);
        r->cap = columns;
        r->ids = PyMem_Malloc(columns * sizeof(long));
        r->null_ids = PyMem_Malloc(columns * sizeof(long));
        r->ends = PyMem_Malloc(columns * sizeof(uint32_t));
        if (!r->ids || !r->ends || !r->null_ids) {
            PyErr_NoMemory();
            return -1;
        }
    }
    return 0;
}

void row_free(RowBuilder *r) {
    PyMem_Free(r->data.p);
    PyMem_Free(r->ids);
    PyMem_Free(r->ends);
    PyMem_Free(r->null_ids);
}

/* append the assembled row value (ids are ascending in each list) */
int row_assemble(Buf *out, const RowBuilder *r) {
    int large = r->data.len > 0xFFFF || (r->nn && r->ids[r->nn - 1] > 255) ||
                (r->nnull && r->null_ids[r->nnull - 1] > 255);
    unsigned char head[6] = {128, (unsigned char)large, (unsigned char)(r->nn & 0xFF),
                             (unsigned char)(r->nn >> 8), (unsigned char)(r->nnull & 0xFF),
                             (unsigned char)(r->nnull >> 8)};
    int w = large ? 4 : 1, ow = large ? 4 : 2;
    if (buf_reserve(out, 6 + (r->nn + r->nnull) * w + r->nn * ow + r->data.len) < 0) return -1;
    buf_put(out, head, 6);
    unsigned char *o = (unsigned char *)out->p + out->len;
    for (int pass = 0; pass < 2; pass++) {
        const long *ids = pass ? r->null_ids : r->ids;
        Py_ssize_t n = pass ? r->nnull : r->nn;
        for (Py_ssize_t i = 0; i < n; i++) {
            uint32_t id = (uint32_t)ids[i];
            for (int k = 0; k < w; k++) *o++ = (unsigned char)(id >> (8 * k));
        }
    }
    for (Py_ssize_t i = 0; i < r->nn; i++)
        for (int k = 0; k < ow; k++) *o++ = (unsigned char)(r->ends[i] >> (8 * k));
    out->len = (char *)o - out->p;
    return buf_put(out, r->data.p, r->data.len);
}

