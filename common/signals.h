// Clean shutdown on SIGINT/SIGTERM for services: block both signals in main() before any thread starts (threads
// inherit the mask), then wait for one on the main thread and shut down in order.
#pragma once

namespace dsrl {

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts afterwards.
void block_shutdown_signals();

// Waits until SIGINT or SIGTERM arrives (they must be blocked); returns the signal number.
int wait_for_shutdown_signal();

}  // namespace dsrl
