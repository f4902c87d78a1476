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
//! Instead every accepting worker publishes how many connections it holds on a small board in
//! shared memory (a memfd the supervisor creates and every worker maps), and a worker holding
//! more than the least-loaded other worker plus one leaves the next connection to the others.
//! It defers for at most [`MAX_DEFERRAL`] in a row, so a stuck or dead worker (the supervisor
//! clears a dead one's seat) delays new connections by that much at worst and never refuses them.

use std::os::fd::{AsRawFd as _, BorrowedFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Seats on the board: more accepting workers than this are not balanced (they still serve).
const SEATS: usize = 64;
/// How long a worker waits before looking at the board again while it defers.
pub(crate) const DEFER_STEP: Duration = Duration::from_millis(2);
/// The longest a worker defers in a row before it accepts anyway.
pub(crate) const MAX_DEFERRAL: Duration = Duration::from_millis(20);

/// One worker's seat: its pid (0 = free) and the connections it holds.
#[repr(C)]
struct Seat {
    pid: AtomicU32,
    open: AtomicU32,
}

/// The shared board, mapped in this process.
pub(crate) struct Board {
    seats: NonNull<Seat>,
    fd: OwnedFd,
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
        Self::map(fd)
    }

    /// The board whose descriptor the supervisor passed to this worker.
    pub(crate) fn inherit(fd: RawFd) -> std::io::Result<Self> {
        #[expect(
            unsafe_code,
            reason = "the supervisor passed this descriptor to us, and nothing else owns it"
        )]
        // SAFETY: see the reason above.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
        Self::map(fd)
    }

    fn map(fd: OwnedFd) -> std::io::Result<Self> {
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
        Ok(Self { seats, fd })
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
        // SAFETY: zero-filled memory is a valid Seat (two zero atomics); see the reason above.
        unsafe {
            std::slice::from_raw_parts(self.seats.as_ptr(), SEATS)
        }
    }

    /// Take a free seat for `pid` (None when the board is full: that worker is not balanced).
    pub(crate) fn join(self: &Arc<Self>, pid: u32) -> Option<Place> {
        let seats = self.seats();
        let index = seats.iter().position(|seat| {
            seat.pid
                .compare_exchange(0, pid, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        // Until its first publish the count may be its previous holder's.
        seats[index].open.store(0, Ordering::Relaxed);
        Some(Place {
            board: self.clone(),
            index,
        })
    }

    /// Free the seat of a worker that died without leaving it (the supervisor's cleanup).
    pub(crate) fn clear(&self, pid: u32) {
        for seat in self.seats() {
            if seat
                .pid
                .compare_exchange(pid, 0, Ordering::AcqRel, Ordering::Relaxed)
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

/// This worker's seat while it accepts connections; left when dropped.
pub(crate) struct Place {
    board: Arc<Board>,
    index: usize,
}

impl Place {
    /// Publish the connections this worker holds now, and say whether it should leave the next
    /// one to another worker (it holds more than the least-loaded other one plus one).
    pub(crate) fn should_defer(&self, open: u64) -> bool {
        let seats = self.board.seats();
        let mine = u32::try_from(open).unwrap_or(u32::MAX);
        seats[self.index].open.store(mine, Ordering::Relaxed);
        let least_other = seats
            .iter()
            .enumerate()
            .filter(|(i, seat)| *i != self.index && seat.pid.load(Ordering::Acquire) != 0)
            .map(|(_, seat)| seat.open.load(Ordering::Relaxed))
            .min();
        least_other.is_some_and(|least| mine > least.saturating_add(1))
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.board.seats()[self.index].pid.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busier_worker_defers_until_the_others_catch_up() {
        let board = Arc::new(Board::create().unwrap());
        let a = board.join(100).unwrap();
        assert!(!a.should_defer(5), "alone on the board: never defer");
        let b = board.join(200).unwrap();
        assert!(!b.should_defer(0));
        assert!(a.should_defer(5), "5 against 0");
        assert!(!a.should_defer(1), "one ahead is within the slack");
        b.should_defer(4);
        assert!(!a.should_defer(5));
        drop(b);
        assert!(!a.should_defer(50), "a worker that left does not count");
    }

    #[test]
    fn a_dead_workers_seat_is_cleared_and_reused() {
        let board = Arc::new(Board::create().unwrap());
        let a = board.join(100).unwrap();
        let dead = board.join(200).unwrap();
        dead.should_defer(0);
        std::mem::forget(dead); // a crash: the seat is never left
        assert!(a.should_defer(9));
        board.clear(200);
        assert!(!a.should_defer(9));
        assert_eq!(board.join(300).unwrap().index, 1, "the freed seat is taken again");
    }

    #[test]
    fn a_second_mapping_sees_the_same_board() {
        let board = Arc::new(Board::create().unwrap());
        let copy = rustix::io::fcntl_dupfd_cloexec(board.fd(), 0).unwrap();
        let other = Arc::new(Board::inherit(std::os::fd::IntoRawFd::into_raw_fd(copy)).unwrap());
        let a = board.join(100).unwrap();
        let b = other.join(200).unwrap();
        assert_eq!(b.index, 1, "the seat taken through the first mapping is seen");
        b.should_defer(0);
        assert!(a.should_defer(3));
    }
}
