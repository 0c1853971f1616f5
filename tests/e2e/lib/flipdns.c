/* A getaddrinfo for e2e tests, loaded with LD_PRELOAD: the name "flip.test" resolves to
 * 127.0.0.1 and 127.0.0.2 in turn, one per lookup, so that every DNS refresh of a cluster
 * changes its hosts; every other name goes to the C library. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    static unsigned lookups;
    if (node == NULL || strcmp(node, "flip.test") != 0)
        return ((getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo"))(node, service, hints, res);
    /* one block, as glibc allocates them: its freeaddrinfo frees ai_canonname (NULL) and the entry */
    struct {
        struct addrinfo ai;
        struct sockaddr_in sin;
    } *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return EAI_MEMORY;
    p->sin.sin_family = AF_INET;
    p->sin.sin_port = htons((unsigned short)atoi(service != NULL ? service : "0"));
    p->sin.sin_addr.s_addr = htonl(0x7f000001u + (__atomic_fetch_add(&lookups, 1, __ATOMIC_RELAXED) & 1));
    p->ai.ai_family = AF_INET;
    p->ai.ai_socktype = SOCK_STREAM;
    p->ai.ai_addrlen = sizeof(p->sin);
    p->ai.ai_addr = (struct sockaddr *)&p->sin;
    *res = &p->ai;
    return 0;
}
