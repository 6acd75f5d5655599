// mt_containers: a multi-threaded C++ program of the kind that stresses an
// allocator in real services. Producer threads build std::map, std::string,
// std::vector and std::unordered_map objects and hand them through a queue
// to consumer threads, which read and destroy them: most memory is freed by
// a thread other than the one that allocated it. Each thread also churns
// containers of its own.
//
//   mt_containers <scale> [threads]
//
// The output (one checksum per line) depends only on <scale> and the thread
// count, never on scheduling, so bench/compare can compare it across
// allocators.
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

struct Item {
	std::map<int, std::string> tree;
	std::vector<std::string> words;
	std::unordered_map<std::string, uint64_t> counts;
};

uint64_t next(uint64_t &x)
{
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

std::string word(uint64_t &x)
{
	size_t len = 1 + next(x) % 120;
	if (next(x) % 64 == 0)
		len = 1000 + next(x) % 6000;
	std::string s(len, 'a');
	for (size_t i = 0; i < len; i += 7)
		s[i] = char('a' + next(x) % 26);
	return s;
}

std::unique_ptr<Item> make_item(uint64_t &x)
{
	auto it = std::make_unique<Item>();
	int n = 8 + next(x) % 40;
	for (int i = 0; i < n; i++) {
		std::string w = word(x);
		it->tree.emplace(int(next(x) % 100000), w);
		it->counts[w.substr(0, 8)] += w.size();
		it->words.push_back(std::move(w));
	}
	return it;
}

uint64_t digest(const Item &it)
{
	uint64_t h = 1469598103934665603ULL;
	for (auto &kv : it.tree)
		h = (h ^ (uint64_t(kv.first) + kv.second.size())) * 1099511628211ULL;
	for (auto &w : it.words)
		h = (h ^ w.size() ^ uint8_t(w[0])) * 1099511628211ULL;
	uint64_t c = 0;
	for (auto &kv : it.counts)
		c += kv.second; // order-free
	return h ^ c;
}

struct Queue {
	std::mutex m;
	std::condition_variable cv;
	std::deque<std::unique_ptr<Item>> q;
	int producers_left = 0;
};

} // namespace

int main(int argc, char **argv)
{
	long scale = argc > 1 ? atol(argv[1]) : 1;
	int threads = argc > 2 ? atoi(argv[2]) : 4;
	if (scale < 1 || threads < 2) {
		fprintf(stderr, "usage: mt_containers <scale >= 1> [threads >= 2]\n");
		return 2;
	}
	int producers = threads / 2, consumers = threads - producers;
	long per_producer = 2000 * scale;
	Queue q;
	q.producers_left = producers;
	std::vector<uint64_t> produced(producers), consumed(consumers), local(threads);
	std::vector<std::thread> ts;
	for (int p = 0; p < producers; p++)
		ts.emplace_back([&, p] {
			uint64_t x = 88172645463325252ULL + p;
			uint64_t sum = 0;
			for (long i = 0; i < per_producer; i++) {
				auto it = make_item(x);
				sum += digest(*it);
				std::unique_lock<std::mutex> l(q.m);
				q.cv.wait(l, [&] { return q.q.size() < 256; });
				q.q.push_back(std::move(it));
				q.cv.notify_all();
			}
			produced[p] = sum;
			std::lock_guard<std::mutex> l(q.m);
			q.producers_left--;
			q.cv.notify_all();
		});
	for (int c = 0; c < consumers; c++)
		ts.emplace_back([&, c] {
			uint64_t sum = 0;
			for (;;) {
				std::unique_ptr<Item> it;
				{
					std::unique_lock<std::mutex> l(q.m);
					q.cv.wait(l, [&] { return !q.q.empty() || q.producers_left == 0; });
					if (q.q.empty())
						break;
					it = std::move(q.q.front());
					q.q.pop_front();
					q.cv.notify_all();
				}
				sum += digest(*it); // freed here, on another thread
			}
			consumed[c] = sum;
		});
	for (auto &t : ts)
		t.join();
	// Thread-local churn: every thread grows and shrinks its own containers.
	ts.clear();
	for (int t = 0; t < threads; t++)
		ts.emplace_back([&, t] {
			uint64_t x = 0x9E3779B97F4A7C15ULL + t;
			uint64_t sum = 0;
			for (long r = 0; r < 10 * scale; r++) {
				std::vector<std::string> v;
				std::map<std::string, int> m;
				for (int i = 0; i < 2000; i++) {
					v.push_back(word(x));
					m[v.back().substr(0, 12)] = i;
				}
				std::sort(v.begin(), v.end());
				for (auto &kv : m)
					sum += kv.second + kv.first.size();
				sum += v.front().size() + v.back().size();
			}
			local[t] = sum;
		});
	for (auto &t : ts)
		t.join();
	uint64_t p = 0, c = 0;
	for (auto v : produced)
		p += v;
	for (auto v : consumed)
		c += v;
	printf("produced %llu\nconsumed %llu\n", (unsigned long long)p, (unsigned long long)c);
	for (int t = 0; t < threads; t++)
		printf("thread %d %llu\n", t, (unsigned long long)local[t]);
	return p == c ? 0 : 1;
}
