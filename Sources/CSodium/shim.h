#ifndef PADDINGTON_CSODIUM_SHIM_H
#define PADDINGTON_CSODIUM_SHIM_H
#include <sodium.h>
#endif
