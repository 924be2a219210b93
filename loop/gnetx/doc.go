// Package gnetx is every use mailproxy makes of gnet v2.9.7's internals,
// in one place to audit on a gnet upgrade:
//
//   - register.go: go:linkname to gnet's unexported conn constructor and
//     eventloop.register0, and reflection on gnet's engine to find its
//     event loops, so that a socket accepted or connected by mailproxy
//     itself is adopted by a loop the way gnet's own acceptor does it
//     (accept4 + epoll_ctl per connection, no goroutine hand-off);
//   - epoll.go: reflection on gnet's conn to find its loop's epoll fd, and
//     EPOLL_CTL_MOD on it to pause and resume reading a connection
//     (backpressure, which gnet lacks: gnet-notes §2.5);
//   - bell.go: a listening socket added to a loop's epoll set with a
//     doorbell conn's fd as the event data (an always-readable eventfd
//     taken out of the set itself), so that a waiting connection becomes
//     an OnTraffic on the loop, which accepts it there (loop/accept.go);
//     and Bell.Arm, the same for one readability of an auth_http socket
//     (EPOLLONESHOT), which wakes the worker waiting for it
//     (loop/authwake.go);
//   - version.go: the gnet version these were written for. CheckVersion
//     and Init fail when the build links another gnet or the shapes moved;
//     mailproxy then refuses to start. There is no fallback path.
//
// Goroutines: Init runs once, from gnet's first OnTick (after the loops
// exist). Engine.PickFrom and Loop's counters are safe from any
// goroutine. Engine.Register and Engine.NewBell must run on the loop they
// register on (a callback of one of its conns, or an EventLoop.Execute
// closure). EpollFd and SetReadInterest run on the conn's loop; Bell's
// Ring, Unring, Arm and Close anywhere.
package gnetx
