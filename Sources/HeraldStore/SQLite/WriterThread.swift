import Foundation

/// A thread of its own for SQLite's writer, as a `TaskExecutor`: a task that prefers it runs
/// here, one job at a time, in the order they came.
///
/// A write transaction runs from `BEGIN` to `COMMIT` (and its fsync) on this thread without a
/// suspension between, so it never waits for one of Swift's shared threads while it holds the
/// write lock. Those threads are busy with the API and delivery under load; each wait between two
/// statements of a transaction kept every other writer waiting too.
final class WriterThread: TaskExecutor, @unchecked Sendable {
    // Guarded by `condition`.
    private var jobs: [UnownedJob] = []
    private var stopping = false
    private var running: pthread_t?
    private let condition = NSCondition()

    init(name: String) {
        let thread = Thread { [self] in runJobs() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        condition.lock()
        if stopping {
            condition.unlock()
            // Stopped (the store is closing): the task goes on on Swift's shared threads.
            globalConcurrentExecutor.enqueue(job)
            return
        }
        jobs.append(UnownedJob(job))
        condition.signal()
        condition.unlock()
    }

    /// Whether the caller runs on this thread.
    var isCurrent: Bool {
        condition.lock()
        defer { condition.unlock() }
        return running.map { pthread_equal($0, pthread_self()) != 0 } ?? false
    }

    /// Lets the thread end once the jobs already queued have run.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func runJobs() {
        condition.lock()
        running = pthread_self()
        condition.unlock()
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            swap(&batch, &jobs)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
