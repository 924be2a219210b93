package mockauth

import "strconv"

// authReplies holds the pre-built responses for one protocol. Index 0 of
// each pair answers an HTTP/1.0 close request, 1 an HTTP/1.1 keepalive one;
// the other two combinations are built from the same pieces.
type authReplies struct {
	server, port string
	ok           [2][2][]byte // [http11][keepAlive]
}

var (
	authStatus10 = "HTTP/1.0 200 OK\r\n"
	authStatus11 = "HTTP/1.1 200 OK\r\n"
)

func authStatusLine(http11 bool) string {
	if http11 {
		return authStatus11
	}
	return authStatus10
}

// authTail ends a header block: an empty body and the connection decision.
func authTail(http11, keepAlive bool) string {
	switch {
	case http11 && !keepAlive:
		return "Content-Length: 0\r\nConnection: close\r\n\r\n"
	case !http11 && keepAlive:
		return "Content-Length: 0\r\nConnection: keep-alive\r\n\r\n"
	}
	return "Content-Length: 0\r\n\r\n"
}

func newAuthReplies(server, port string) authReplies {
	r := authReplies{server: server, port: port}
	if server == "" {
		return r
	}
	for i, h11 := range []bool{false, true} {
		for j, ka := range []bool{false, true} {
			r.ok[i][j] = []byte(authStatusLine(h11) + "Auth-Status: OK\r\nAuth-Server: " +
				server + "\r\nAuth-Port: " + port + "\r\n" + authTail(h11, ka))
		}
	}
	return r
}

// failReplies builds the failure responses once: Auth-Status text and
// Auth-Wait, as nginx's auth_http documentation describes.
func failReplies(text string, wait int) (out [2][2][]byte) {
	for i, h11 := range []bool{false, true} {
		for j, ka := range []bool{false, true} {
			out[i][j] = []byte(authStatusLine(h11) + "Auth-Status: " + text +
				"\r\nAuth-Wait: " + strconv.Itoa(wait) + "\r\n" + authTail(h11, ka))
		}
	}
	return out
}

func internalReplies() (out [2][2][]byte) {
	for i, h11 := range []bool{false, true} {
		for j, ka := range []bool{false, true} {
			out[i][j] = []byte(authStatusLine(h11) +
				"Auth-Status: Temporary server problem, try again later\r\n" + authTail(h11, ka))
		}
	}
	return out
}

// appendOKPass builds an OK reply carrying Auth-Pass.
func appendOKPass(dst []byte, r *authReplies, q *authRequest, pass string) []byte {
	dst = append(dst, authStatusLine(q.http11)...)
	dst = append(dst, "Auth-Status: OK\r\nAuth-Server: "...)
	dst = append(dst, r.server...)
	dst = append(dst, "\r\nAuth-Port: "...)
	dst = append(dst, r.port...)
	dst = append(dst, "\r\nAuth-Pass: "...)
	dst = append(dst, pass...)
	dst = append(dst, "\r\n"...)
	return append(dst, authTail(q.http11, q.keepAlive)...)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
