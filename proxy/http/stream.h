/* The HTTP stream: the h2o handler every listener's connection manager installs. It
 * picks the route for each request and answers it (stream.c). */
#ifndef FD_STREAM_H
#define FD_STREAM_H

#include <h2o.h>

/* Installs the stream handler on a listener's pathconf (the request's worker listener says
 * which listener it is). */
void fd_stream_register(h2o_pathconf_t *pathconf);

#endif
