/* Status codes of the C core. The core never prints or exits: every failure is one of these,
 * with a message in the caller's buffer, and module.c turns it into a Python exception. */
#ifndef DD_STATUS_H
#define DD_STATUS_H

#include <stddef.h>

typedef enum {
    DD_OK = 0,
    DD_ERR_NOMEM,       /* MemoryError */
    DD_ERR_VALUE,       /* ValueError: bad size, shape, argument */
    DD_ERR_WEIGHTS,     /* ValueError: a layer the loaded weights cannot serve */
    DD_ERR_INTERRUPTED, /* the Python callback raised (Ctrl-C, user stop): the exception is set */
} dd_status;

/* Error text buffer handed down from module.c. */
typedef struct {
    char msg[512];
} dd_error;

dd_status dd_fail(dd_error *err, dd_status status, const char *fmt, ...);

#endif
