// C++ workload for run_cxx.sh: run plainly and with quarry preloaded, its
// output must be identical. It reaches every family of operator new and
// delete that quarry interposes:
//   plain and array new/delete through the standard containers;
//   sized delete (built with -fsized-deallocation): explicit
//     ::operator delete(p, n), delete[] of types with destructors, and
//     delete through a virtual destructor (the dynamic size is passed);
//   aligned new/delete for over-aligned types (alignas(64), alignas(4096),
//     containers of them) and explicit std::align_val_t calls;
//   nothrow new, plain and aligned;
//   objects created in one std::thread and destroyed in another;
//   an impossible allocation: new must throw std::bad_alloc, nothrow new
//     must return nullptr.
// Every result is folded into checksums printed at the end; a broken
// promise (misalignment, missing exception, corrupted data) prints
// "FAILED: ..." on stderr and exits 1.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

std::atomic<int> failures{0};   // check() runs in threads too

void check(bool ok, const char *what)
{
    if (!ok) {
        std::fprintf(stderr, "FAILED: %s\n", what);
        failures++;
    }
}

// Keep the compiler from eliding new/delete pairs (it may, since C++14,
// when the memory is unobservable).
void escape(void *p)
{
    asm volatile("" : : "g"(p) : "memory");
}

bool aligned_to(const void *p, std::size_t a)
{
    return reinterpret_cast<std::uintptr_t>(p) % a == 0;
}

// FNV-1a over bytes, for folding results into one printed number.
struct Hash {
    std::uint64_t h = 14695981039346656037ull;
    void add(const void *data, std::size_t n)
    {
        auto p = static_cast<const unsigned char *>(data);
        for (std::size_t i = 0; i < n; i++)
            h = (h ^ p[i]) * 1099511628211ull;
    }
    void add(std::uint64_t v) { add(&v, sizeof v); }
    void add(const std::string &s) { add(s.data(), s.size()); }
};

std::uint64_t lcg(std::uint64_t &x)
{
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    return x >> 33;
}

std::uint64_t containers()
{
    Hash h;
    std::uint64_t x = 1;
    std::vector<std::string> words;
    for (int i = 0; i < 50000; i++) {
        std::string w;
        for (std::uint64_t n = 1 + lcg(x) % 40; n > 0; n--)
            w += static_cast<char>('a' + lcg(x) % 26);
        words.push_back(std::move(w));
    }
    std::map<std::string, int> counts;
    for (const auto &w : words)
        counts[w.substr(0, 3)]++;
    std::unordered_map<std::uint64_t, std::vector<std::uint64_t>> buckets;
    for (std::uint64_t i = 0; i < 100000; i++)
        buckets[lcg(x) % 5000].push_back(i);
    for (int round = 0; round < 3; round++)
        for (auto it = buckets.begin(); it != buckets.end();)
            it = it->second.size() % 3 == static_cast<std::size_t>(round)
                     ? buckets.erase(it) : std::next(it);
    std::sort(words.begin(), words.end());
    for (std::size_t i = 0; i < words.size(); i += 101)
        h.add(words[i]);
    for (const auto &kv : counts) {
        h.add(kv.first);
        h.add(static_cast<std::uint64_t>(kv.second));
    }
    std::vector<std::uint64_t> keys;
    for (const auto &kv : buckets)
        keys.push_back(kv.first * 1000003 + kv.second.size());
    std::sort(keys.begin(), keys.end());
    for (auto k : keys)
        h.add(k);
    std::string big;
    for (int i = 0; i < 200000; i++)
        big += words[static_cast<std::size_t>(i) % words.size()];
    h.add(big.size());
    h.add(big.substr(big.size() / 2, 64));
    return h.h;
}

struct Base {
    virtual ~Base() = default;
    virtual std::uint64_t value() const = 0;
};

struct Small : Base {
    std::uint64_t v;
    explicit Small(std::uint64_t v) : v(v) {}
    std::uint64_t value() const override { return v; }
};

struct Large : Base {
    std::uint64_t v[300];
    explicit Large(std::uint64_t seed) { for (auto &e : v) e = seed++; }
    std::uint64_t value() const override { return v[299]; }
};

struct Counted {
    static int live;
    std::uint64_t payload[3];
    Counted() : payload{1, 2, 3} { live++; }
    ~Counted() { live--; }
};
int Counted::live = 0;

std::uint64_t sized_delete()
{
    Hash h;
    for (std::size_t n = 1; n < 70000; n = n * 3 + 1) {
        auto p = static_cast<unsigned char *>(::operator new(n));
        std::memset(p, static_cast<int>(n), n);
        escape(p);
        h.add(p[n - 1]);
        ::operator delete(p, n);                     // sized delete
        auto q = static_cast<unsigned char *>(::operator new[](n));
        q[0] = 7;
        escape(q);
        ::operator delete[](q, n);                   // sized delete[]
    }
    // delete[] of a type with a destructor passes the size too.
    for (int i = 1; i < 2000; i += 37) {
        Counted *arr = new Counted[static_cast<std::size_t>(i)];
        escape(arr);
        h.add(arr[i - 1].payload[2]);
        delete[] arr;
    }
    check(Counted::live == 0, "Counted destructors ran for every element");
    // Through a virtual destructor: the size of the dynamic type.
    std::vector<Base *> objs;
    for (std::uint64_t i = 0; i < 3000; i++)
        objs.push_back(i % 3 ? static_cast<Base *>(new Small(i))
                             : static_cast<Base *>(new Large(i)));
    for (auto *o : objs) {
        h.add(o->value());
        delete o;
    }
    return h.h;
}

struct alignas(64) Line {
    std::uint64_t v[8];
};
struct alignas(4096) Page {
    unsigned char bytes[4096];
};

std::uint64_t aligned()
{
    Hash h;
    for (int i = 0; i < 200; i++) {
        Line *l = new Line;
        check(aligned_to(l, 64), "new alignas(64) object is 64-byte aligned");
        l->v[7] = static_cast<std::uint64_t>(i);
        escape(l);
        h.add(l->v[7]);
        delete l;
        Line *ls = new Line[static_cast<std::size_t>(i) + 1];
        check(aligned_to(ls, 64), "new alignas(64) array is 64-byte aligned");
        escape(ls);
        delete[] ls;
    }
    for (int i = 0; i < 40; i++) {
        Page *p = new Page;
        check(aligned_to(p, 4096), "new alignas(4096) object is page aligned");
        std::memset(p->bytes, i, sizeof p->bytes);
        escape(p);
        h.add(p->bytes[4095]);
        delete p;
    }
    std::vector<Page> pages(5);   // std::allocator uses aligned new
    for (int grow = 0; grow < 6; grow++) {
        check(aligned_to(pages.data(), 4096), "vector<Page> storage page aligned");
        pages.resize(pages.size() * 2 + 1);
    }
    h.add(pages.size());
    std::vector<Line> lines;
    for (int i = 0; i < 10000; i++) {
        lines.push_back(Line{{static_cast<std::uint64_t>(i)}});
        check(aligned_to(lines.data(), 64), "vector<Line> storage 64-byte aligned");
    }
    h.add(lines[9999].v[0]);
    // Explicit calls, every alignment from 16 to 64 KiB, with the sized,
    // unsized and nothrow deletes.
    for (std::size_t a = 16; a <= 65536; a *= 2) {
        for (std::size_t n : {std::size_t{1}, a / 2 + 1, a, 3 * a + 5, std::size_t{100000}}) {
            void *p = ::operator new(n, std::align_val_t{a});
            check(aligned_to(p, a), "operator new(n, align_val_t) alignment");
            std::memset(p, 0x5a, n);
            escape(p);
            ::operator delete(p, n, std::align_val_t{a});
            void *q = ::operator new[](n, std::align_val_t{a});
            check(aligned_to(q, a), "operator new[](n, align_val_t) alignment");
            escape(q);
            ::operator delete[](q, std::align_val_t{a});
            void *r = ::operator new(n, std::align_val_t{a}, std::nothrow);
            check(r != nullptr && aligned_to(r, a), "nothrow aligned new");
            escape(r);
            ::operator delete(r, std::align_val_t{a}, std::nothrow);
            h.add(n * a);
        }
    }
    return h.h;
}

std::uint64_t nothrow_new()
{
    Hash h;
    for (std::size_t n = 1; n < 1000000; n = n * 5 + 3) {
        int *p = new (std::nothrow) int[n];
        check(p != nullptr, "nothrow new[] of a modest size");
        p[n - 1] = static_cast<int>(n);
        escape(p);
        h.add(static_cast<std::uint64_t>(p[n - 1]));
        delete[] p;
        auto *s = new (std::nothrow) std::string(n % 300, 'q');
        check(s != nullptr, "nothrow new of a string");
        h.add(*s);
        delete s;
        void *raw = ::operator new[](n, std::nothrow);
        check(raw != nullptr, "operator new[](n, nothrow)");
        escape(raw);
        ::operator delete[](raw, std::nothrow);
    }
    return h.h;
}

// Four threads build data; what each made is destroyed by the main
// thread or by the next thread, so frees cross threads.
std::uint64_t threads()
{
    std::mutex mu;
    std::vector<std::unique_ptr<std::vector<std::string>>> handed;
    std::uint64_t sums[4] = {};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++)
        ts.emplace_back([t, &mu, &handed, &sums] {
            std::uint64_t x = static_cast<std::uint64_t>(t) + 17;
            Hash h;
            std::map<std::uint64_t, std::string> local;
            for (int i = 0; i < 20000; i++) {
                local[lcg(x) % 4000] = std::string(lcg(x) % 100, static_cast<char>('A' + t));
                if (i % 50 == 0) {
                    auto v = std::make_unique<std::vector<std::string>>();
                    for (int j = 0; j < 20; j++)
                        v->push_back(std::to_string(lcg(x)));
                    std::lock_guard<std::mutex> lock(mu);
                    // Free one that another thread (or we) made, leave
                    // ours. Which one depends on scheduling, so it is
                    // only checked, not hashed.
                    if (!handed.empty()) {
                        check(handed.back()->size() == 20, "handed vector intact");
                        handed.pop_back();
                    }
                    handed.push_back(std::move(v));
                }
            }
            for (const auto &kv : local)
                h.add(kv.first * 131 + kv.second.size());
            sums[t] = h.h;
        });
    for (auto &t : ts)
        t.join();
    Hash h;
    for (auto s : sums)
        h.add(s);
    h.add(handed.size());
    handed.clear();   // the rest is freed by the main thread
    return h.h;
}

void impossible()
{
    // 2^48 bytes exceeds the 47-bit user address space: no allocator can
    // serve it, whatever the overcommit setting. volatile keeps the
    // compiler from reasoning about the size.
    volatile std::size_t huge = std::size_t{1} << 48;
    volatile std::size_t near_max = ~std::size_t{0} - 63;
    bool threw = false;
    try {
        void *p = ::operator new(huge);
        escape(p);
        ::operator delete(p);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    check(threw, "operator new(2^48) throws std::bad_alloc");
    threw = false;
    try {
        void *p = ::operator new[](huge, std::align_val_t{64});
        escape(p);
        ::operator delete[](p, std::align_val_t{64});
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    check(threw, "aligned operator new[](2^48) throws std::bad_alloc");
    threw = false;
    try {
        void *p = ::operator new(near_max);
        escape(p);
        ::operator delete(p);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    check(threw, "operator new(SIZE_MAX - 63) throws std::bad_alloc");
    check(::operator new(huge, std::nothrow) == nullptr,
          "operator new(2^48, nothrow) returns nullptr");
    check(::operator new[](huge, std::nothrow) == nullptr,
          "operator new[](2^48, nothrow) returns nullptr");
    check(::operator new(huge, std::align_val_t{4096}, std::nothrow) == nullptr,
          "aligned operator new(2^48, nothrow) returns nullptr");
    std::printf("impossible allocations: bad_alloc thrown, nothrow gave nullptr\n");
}

} // namespace

int main()
{
    std::printf("containers: %016llx\n", static_cast<unsigned long long>(containers()));
    std::printf("sized delete: %016llx\n", static_cast<unsigned long long>(sized_delete()));
    std::printf("aligned: %016llx\n", static_cast<unsigned long long>(aligned()));
    std::printf("nothrow: %016llx\n", static_cast<unsigned long long>(nothrow_new()));
    std::printf("threads: %016llx\n", static_cast<unsigned long long>(threads()));
    impossible();
    if (failures) {
        std::fprintf(stderr, "%d check(s) failed\n", failures.load());
        return 1;
    }
    std::printf("all checks passed\n");
    return 0;
}
