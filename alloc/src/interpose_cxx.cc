// C++ operators new and delete for libquarry.so: the forms interpose.c does
// not define in C (nothrow, aligned), and the slow path of its throwing new.
// Throwing forms call the new_handler until it gives up, then throw
// std::bad_alloc, as the standard library's own operators do.
#include <cstddef>
#include <new>

extern "C" {
void *cxx_malloc(std::size_t size) __attribute__((visibility("hidden")));
void *cxx_aligned_alloc(std::size_t alignment, std::size_t size) __attribute__((visibility("hidden")));
void cxx_free(void *ptr) __attribute__((visibility("hidden")));
void *cxx_new_slow(std::size_t size) __attribute__((visibility("hidden")));
}

#define EXPORT __attribute__((visibility("default")))

namespace {

void *new_or_throw(std::size_t size) {
    for (;;) {
        void *p = cxx_malloc(size);
        if (p != nullptr)
            return p;
        std::new_handler handler = std::get_new_handler();
        if (handler == nullptr)
            throw std::bad_alloc();
        handler();
    }
}

void *new_aligned_or_throw(std::size_t size, std::align_val_t align) {
    for (;;) {
        void *p = cxx_aligned_alloc(static_cast<std::size_t>(align), size);
        if (p != nullptr)
            return p;
        std::new_handler handler = std::get_new_handler();
        if (handler == nullptr)
            throw std::bad_alloc();
        handler();
    }
}

void *new_nothrow(std::size_t size) noexcept {
    try {
        return new_or_throw(size);
    } catch (...) {
        return nullptr;
    }
}

void *new_aligned_nothrow(std::size_t size, std::align_val_t align) noexcept {
    try {
        return new_aligned_or_throw(size, align);
    } catch (...) {
        return nullptr;
    }
}

} // namespace

// operator new(size) and new[](size) found NULL: handler loop, then throw.
void *cxx_new_slow(std::size_t size) { return new_or_throw(size); }

EXPORT void *operator new(std::size_t size, const std::nothrow_t &) noexcept { return new_nothrow(size); }
EXPORT void *operator new[](std::size_t size, const std::nothrow_t &) noexcept { return new_nothrow(size); }
EXPORT void *operator new(std::size_t size, std::align_val_t align) { return new_aligned_or_throw(size, align); }
EXPORT void *operator new[](std::size_t size, std::align_val_t align) { return new_aligned_or_throw(size, align); }
EXPORT void *operator new(std::size_t size, std::align_val_t align, const std::nothrow_t &) noexcept {
    return new_aligned_nothrow(size, align);
}
EXPORT void *operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t &) noexcept {
    return new_aligned_nothrow(size, align);
}

EXPORT void operator delete(void *ptr, const std::nothrow_t &) noexcept { cxx_free(ptr); }
EXPORT void operator delete[](void *ptr, const std::nothrow_t &) noexcept { cxx_free(ptr); }
// Aligned blocks may sit in a larger class than their size names, so the
// aligned forms free by lookup rather than by size.
EXPORT void operator delete(void *ptr, std::align_val_t) noexcept { cxx_free(ptr); }
EXPORT void operator delete[](void *ptr, std::align_val_t) noexcept { cxx_free(ptr); }
EXPORT void operator delete(void *ptr, std::align_val_t, const std::nothrow_t &) noexcept { cxx_free(ptr); }
EXPORT void operator delete[](void *ptr, std::align_val_t, const std::nothrow_t &) noexcept { cxx_free(ptr); }
EXPORT void operator delete(void *ptr, std::size_t, std::align_val_t) noexcept { cxx_free(ptr); }
EXPORT void operator delete[](void *ptr, std::size_t, std::align_val_t) noexcept { cxx_free(ptr); }
