/* RUNNING_ON_VALGRIND where valgrind's header exists, else 0. */
#ifndef QUARRY_TEST_VALGRIND_SHIM_H
#define QUARRY_TEST_VALGRIND_SHIM_H
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif
#endif
