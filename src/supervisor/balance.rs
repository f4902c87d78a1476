//! Spreading connections evenly over the workers that share one listening socket.
//!
//! The kernel gives a new connection to whichever worker calls `accept()` first, and a worker
//! woken for one connection accepts every one pending. So a burst of keep-alive clients (a load
//! balancer's pool, a load test) can land unevenly and stay that way for as long as the
//! connections live: 100 clients on `--workers 2` were measured at 52/13 sockets, one worker
//! saturated while the other idled. (`SO_REUSEPORT` would balance by hash, but a crashed worker's
//! share of new connections would then wait in its own backlog until the restart, and a second
//! server started by mistake on the same port would silently join instead of failing.)
//!
//! Instead every accepting worker keeps the number of connections it holds up to date on a small
//! board in shared memory (a memfd the supervisor creates and every worker maps), and a worker
//! holding more than the least-loaded other worker plus one leaves the next connection to the
//! others. One stretch of deferring lasts at most [`MAX_DEFERRAL`]; after that the worker
//! accepts without deferring until the counts are even again. So a stuck or dead worker (the
//! supervisor clears a dead one's seat) delays new connections by that much once, and never
//! refuses them. Seats belong to worker ids, which the supervisor never reuses (pids can be).

use std::os::fd::{AsRawFd as _, BorrowedFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Seats on the board: 4 times `--workers`' maximum of 64, for the old and new generation of a
/// reload both seated. A worker that finds no seat serves unbalanced (and says so).
const SEATS: usize = 256;
/// How long a worker waits before looking at the board again while it defers.
pub(crate) const DEFER_STEP: Duration = Duration::from_millis(2);
/// The longest a worker defers in a row before it accepts anyway.
pub(crate) const MAX_DEFERRAL: Duration = Duration::from_millis(20);

/// One worker's seat: its owner (worker id + 1; 0 = free) and the connections it holds.
#[repr(C)]
struct Seat {
    owner: AtomicU64,
    open: AtomicU32,
}

/// The shared board, mapped in this process.
pub(crate) struct Board {
    seats: NonNull<Seat>,
    fd: OwnedFd,
    /// The seat owner this process joins as (a worker's id + 1; 0 in the supervisor).
    owner: u64,
}

// SAFETY: the mapping is only accessed through atomics and lives as long as the Board.
#[expect(unsafe_code, reason = "shared memory accessed through atomics only")]
unsafe impl Send for Board {}
// SAFETY: as above.
#[expect(unsafe_code, reason = "shared memory accessed through atomics only")]
unsafe impl Sync for Board {}

const BOARD_BYTES: usize = SEATS * size_of::<Seat>();

impl Board {
    /// A new, empty board (the supervisor's). Its descriptor is close-on-exec: the supervisor
    /// passes it to each worker explicitly.
    pub(crate) fn create() -> std::io::Result<Self> {
        let fd = rustix::fs::memfd_create("dspy-cli-balance", rustix::fs::MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&fd, BOARD_BYTES as u64)?;
        Self::map(fd, 0)
    }

    /// The board whose descriptor the supervisor passed to worker `id`.
    pub(crate) fn inherit(fd: RawFd, id: u64) -> std::io::Result<Self> {
        #[expect(
            unsafe_code,
            reason = "the supervisor passed this descriptor to us, and nothing else owns it"
        )]
        // SAFETY: see the reason above.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
        Self::map(fd, id + 1)
    }

    fn map(fd: OwnedFd, owner: u64) -> std::io::Result<Self> {
        use rustix::mm::{MapFlags, ProtFlags, mmap};
        #[expect(unsafe_code, reason = "a fresh shared mapping of a file we own, of its full size")]
        // SAFETY: a new mapping chosen by the kernel, of a file at least BOARD_BYTES long.
        let address = unsafe {
            mmap(
                std::ptr::null_mut(),
                BOARD_BYTES,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )?
        };
        let seats = NonNull::new(address.cast::<Seat>()).ok_or_else(|| std::io::Error::other("mmap returned null"))?;
        Ok(Self { seats, fd, owner })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        #[expect(unsafe_code, reason = "the descriptor is owned by self")]
        // SAFETY: see the reason above.
        unsafe {
            BorrowedFd::borrow_raw(self.fd.as_raw_fd())
        }
    }

    fn seats(&self) -> &[Seat] {
        #[expect(unsafe_code, reason = "the mapping holds SEATS seats and lives as long as self")]
        // SAFETY: zero-filled memory is a valid Seat (zero atomics); see the reason above.
        unsafe {
            std::slice::from_raw_parts(self.seats.as_ptr(), SEATS)
        }
    }

    /// Take a free seat for this worker (None when the board is full: it serves unbalanced).
    pub(crate) fn join(self: &Arc<Self>) -> Option<Place> {
        let seats = self.seats();
        let index = seats.iter().position(|seat| {
            seat.owner
                .compare_exchange(0, self.owner, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        // Until its first publish the count may be its previous holder's.
        seats[index].open.store(0, Ordering::Relaxed);
        Some(Place {
            board: self.clone(),
            index,
            seated: AtomicBool::new(true),
        })
    }

    /// Free the seat of worker `id` if it died without leaving it (the supervisor's cleanup).
    pub(crate) fn clear(&self, id: u64) {
        for seat in self.seats() {
            if seat
                .owner
                .compare_exchange(id + 1, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        #[expect(unsafe_code, reason = "unmapping our own mapping; no reference to it outlives self")]
        // SAFETY: see the reason above.
        unsafe {
            rustix::mm::munmap(self.seats.as_ptr().cast(), BOARD_BYTES).ok();
        }
    }
}

/// This worker's seat while it accepts connections. Shared with its connections, which keep
/// the count current as they open and close; [`Place::leave`] when it stops accepting.
pub(crate) struct Place {
    board: Arc<Board>,
    index: usize,
    seated: AtomicBool,
}

impl Place {
    /// Publish the number of connections this worker holds (nothing once it has left).
    pub(crate) fn publish(&self, open: u64) {
        if self.seated.load(Ordering::Acquire) {
            let open = u32::try_from(open).unwrap_or(u32::MAX);
            self.board.seats()[self.index].open.store(open, Ordering::Relaxed);
        }
    }

    /// Should this worker leave the next connection to another one? Yes while it holds more
    /// than the least-loaded other seated worker plus one (counts as its connections published).
    pub(crate) fn should_defer(&self) -> bool {
        let seats = self.board.seats();
        let mine = seats[self.index].open.load(Ordering::Relaxed);
        let least_other = seats
            .iter()
            .enumerate()
            .filter(|(i, seat)| *i != self.index && seat.owner.load(Ordering::Acquire) != 0)
            .map(|(_, seat)| seat.open.load(Ordering::Relaxed))
            .min();
        least_other.is_some_and(|least| mine > least.saturating_add(1))
    }

    /// Stop accepting: free the seat, so that no other worker waits for this one.
    pub(crate) fn leave(&self) {
        if self.seated.swap(false, Ordering::AcqRel) {
            self.board.seats()[self.index].owner.store(0, Ordering::Release);
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second mapping of `board`, as worker `id` sees it.
    fn worker_view(board: &Board, id: u64) -> Arc<Board> {
        let copy = rustix::io::fcntl_dupfd_cloexec(board.fd(), 0).unwrap();
        Arc::new(Board::inherit(std::os::fd::IntoRawFd::into_raw_fd(copy), id).unwrap())
    }

    #[test]
    fn the_busier_worker_defers_until_the_others_catch_up() {
        let board = Board::create().unwrap();
        let a = worker_view(&board, 1).join().unwrap();
        a.publish(5);
        assert!(!a.should_defer(), "alone on the board: never defer");
        let b = worker_view(&board, 2).join().unwrap();
        b.publish(0);
        assert!(!b.should_defer());
        assert!(a.should_defer(), "5 against 0");
        a.publish(1);
        assert!(!a.should_defer(), "one ahead is within the slack");
        b.publish(4);
        a.publish(5);
        assert!(!a.should_defer());
        b.leave();
        b.publish(0);
        a.publish(50);
        assert!(!a.should_defer(), "a worker that left does not count, nor publish");
    }

    #[test]
    fn a_dead_workers_seat_is_cleared_and_reused() {
        let board = Board::create().unwrap();
        let a = worker_view(&board, 1).join().unwrap();
        let dead = worker_view(&board, 2).join().unwrap();
        dead.publish(0);
        std::mem::forget(dead); // a crash: the seat is never left
        a.publish(9);
        assert!(a.should_defer());
        board.clear(7);
        assert!(a.should_defer(), "another id's clear does not free it");
        board.clear(2);
        assert!(!a.should_defer());
        assert_eq!(
            worker_view(&board, 3).join().unwrap().index,
            1,
            "the freed seat is taken again"
        );
    }
}
