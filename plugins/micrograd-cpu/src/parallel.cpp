#include "parallel.hpp"

#include "binding.hpp"
#include "simd/simd.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace mgcpu {

namespace {

thread_local bool in_worker = false;

int default_threads() {
    if (const char* env = std::getenv("MICROGRAD_CPU_THREADS")) {
        int n = std::atoi(env);
        if (n > 0) return n;
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

class Pool {
public:
    explicit Pool(int threads) { resize(threads); }

    int size() const { return int(workers_.size()) + 1; }

    void resize(int threads) {
        stop();
        stopping_ = false;
        for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
    }

    // Runs fn(chunk) for chunk in [0, chunks), the caller taking part. The first exception a
    // chunk throws (on any thread: bad_alloc of a worker's scratch, a value_error) is rethrown
    // here, on the caller, once every thread has let go of the task; later chunks are skipped.
    void run(int threads, int64_t chunks, const std::function<void(int64_t)>& fn) {
        std::unique_lock<std::mutex> call_lock(call_mutex_);   // one parallel region at a time
        if (size() != threads) resize(threads);   // only here, where no region is running
        {
            std::lock_guard<std::mutex> lock(mutex_);
            task_ = &fn;
            chunks_ = chunks;
            next_.store(0);
            pending_.store(chunks);
            failed_.store(false);
            error_ = nullptr;
            generation_.fetch_add(1, std::memory_order_release);
        }
        wake_.notify_all();
        bool was_worker = in_worker;
        in_worker = true;   // a parallel_for inside fn runs inline instead of deadlocking
        drain(fn);
        in_worker = was_worker;
        // Also wait for workers still holding this task, so none runs it after fn is gone.
        // Spin first: the caller usually finishes its share a little before the workers, and
        // sleeping on the condition variable costs a futex wake-up (tens of microseconds, as
        // much as a 1M-element add) when they are done.
        auto finished = [this] {
            return pending_.load(std::memory_order_acquire) == 0 &&
                   active_.load(std::memory_order_acquire) == 0;
        };
        for (int i = 0; i < SPIN && !finished(); ++i) std::this_thread::yield();
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, finished);
        task_ = nullptr;
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    }

    ~Pool() { stop(); }

private:
    // Never throws: an exception escaping a worker thread would be std::terminate.
    void drain(const std::function<void(int64_t)>& fn) {
        int64_t finished = 0;
        for (int64_t c; (c = next_.fetch_add(1)) < chunks_;) {
            if (!failed_.load(std::memory_order_relaxed)) {
                try {
                    fn(c);
                } catch (...) {
                    std::lock_guard<std::mutex> lock(mutex_);
                    if (!error_) error_ = std::current_exception();
                    failed_.store(true);
                }
            }
            ++finished;
        }
        if (finished && pending_.fetch_sub(finished, std::memory_order_acq_rel) == finished) {
            std::lock_guard<std::mutex> lock(mutex_);   // no wake-up lost between test and wait
            done_.notify_all();
        }
    }

    void work() {
        in_worker = true;
        uint64_t seen = 0;
        for (;;) {
            const std::function<void(int64_t)>* task;
            // Spin briefly before sleeping: back-to-back parallel ops (a training step) then
            // start without a futex wake-up, which costs tens of microseconds.
            for (int i = 0; i < SPIN && generation_.load(std::memory_order_acquire) == seen; ++i)
                std::this_thread::yield();
            {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [&] { return stopping_ || (generation_ != seen && task_); });
                if (stopping_) return;
                seen = generation_;
                task = task_;
                active_.fetch_add(1, std::memory_order_acq_rel);
            }
            drain(*task);
            if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                std::lock_guard<std::mutex> lock(mutex_);
                done_.notify_all();
            }
        }
    }

    void stop() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (auto& t : workers_) t.join();
        workers_.clear();
    }

    std::vector<std::thread> workers_;
    std::mutex call_mutex_, mutex_;
    std::condition_variable wake_, done_;
    const std::function<void(int64_t)>* task_ = nullptr;
    std::atomic<int64_t> next_{0}, pending_{0};
    int64_t chunks_ = 0;
    std::atomic<int> active_{0};
    std::atomic<uint64_t> generation_{0};
    std::atomic<bool> failed_{false};
    std::exception_ptr error_;   // guarded by mutex_
    static constexpr int SPIN = 2000;
    bool stopping_ = false;
};

std::atomic<int> wanted_threads{0};

Pool& pool() {
    // Leaked on purpose: joining threads during interpreter shutdown can deadlock.
    static Pool* instance = new Pool(num_threads());
    return *instance;
}

}  // namespace

int num_threads() {
    int n = wanted_threads.load();
    if (!n) {
        n = default_threads();
        wanted_threads.store(n);
    }
    return n;
}

void set_num_threads(int n) { wanted_threads = std::max(1, n); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    int threads = num_threads();
    if (in_worker || threads == 1 || n < 2 * grain) {
        fn(0, n);
        return;
    }
    int64_t chunks = std::min<int64_t>(threads, n / grain);
    int64_t per = (n + chunks - 1) / chunks;
    pool().run(threads, chunks, [&](int64_t c) {
        int64_t b = c * per, e = std::min(n, b + per);
        if (b < e) fn(b, e);
    });
}

// --------------------------------------------------------------------------- bindings

void init_runtime(py::module_& m) {
    m.def("num_threads", &num_threads, "Threads used for large work.");
    m.def("set_num_threads", &set_num_threads, py::arg("n"),
          "Threads for large work (1: single-threaded).");
    m.def("simd_arch", [] { return simd::kernels().arch; }, "Instruction set picked at run time.");
}

}  // namespace mgcpu
