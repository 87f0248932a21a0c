// The C allocator's statistics and trim, which Swift's Glibc module does not import.
#ifndef CHEAP_H
#define CHEAP_H

#include <stddef.h>

/// Bytes the allocator holds free (glibc's mallinfo2().fordblks); 0 where unknown.
size_t ballast_heap_free_bytes(void);

/// Returns free heap pages to the system (glibc's malloc_trim(0)); 1 when something was released.
int ballast_heap_trim(void);

#endif
