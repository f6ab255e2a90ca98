#include "status.h"

#include <stdarg.h>
#include <stdio.h>

dd_status dd_fail(dd_error *err, dd_status status, const char *fmt, ...) {
    if (err) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, args);
        va_end(args);
    }
    return status;
}
