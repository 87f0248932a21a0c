#include "CHeap.h"
#include <stdlib.h>  // defines __GLIBC__ on glibc (through features.h)

#if defined(__GLIBC__)
#include <malloc.h>

size_t ballast_heap_free_bytes(void) { return mallinfo2().fordblks; }
int ballast_heap_trim(void) { return malloc_trim(0); }
#else
size_t ballast_heap_free_bytes(void) { return 0; }
int ballast_heap_trim(void) { return 0; }
#endif
