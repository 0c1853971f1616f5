/* frontdesk's version, printed by --version and /server_info. */
#ifndef FD_VERSION_H
#define FD_VERSION_H

#define FD_VERSION "0.1.0-dev"

#endif
