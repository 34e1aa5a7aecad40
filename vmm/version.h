/* ember's own version, and the version of the Firecracker API it implements. */
#ifndef EMBER_VERSION_H
#define EMBER_VERSION_H

#ifndef EMBER_VERSION
#define EMBER_VERSION "0.1.0"
#endif

/* info.version of the Firecracker OpenAPI spec whose endpoints ember serves
 * (firecracker.yaml, 1.17.0-dev), without "-dev": clients such as Kata's runtime
 * parse it as semver and require a minimum. GET /version reports it as
 * firecracker_version, GET / as vmm_version, and `ember --version` prints it on its
 * first line in Firecracker's own format. */
#define EMBER_FIRECRACKER_API_VERSION "1.17.0"

#endif
