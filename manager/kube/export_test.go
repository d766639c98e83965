package kube

// DialAs makes the provider dial the endpoint address from as to.
func DialAs(from, to string) {
	dialAs = func(addr string) string {
		if addr == from {
			return to
		}
		return addr
	}
}
