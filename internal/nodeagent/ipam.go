package nodeagent

import (
	"fmt"
	"net/netip"
	"sync"
)

// ipPool hands out loopback addresses to pods: 127.0.0.2, 127.0.0.3, ... up to
// 127.0.255.254, skipping addresses ending in .0, .1 and .255. Released addresses are
// reused only after the pool has wrapped around, so a fresh pod rarely gets the
// address of one that just went away (stale endpoints would point at it).
type ipPool struct {
	mu    sync.Mutex
	first netip.Addr
	next  netip.Addr
	last  netip.Addr
	used  map[netip.Addr]bool
}

func newIPPool(first, last netip.Addr) *ipPool {
	return &ipPool{first: first, next: first, last: last, used: map[netip.Addr]bool{}}
}

func usable(a netip.Addr) bool {
	b := a.As4()
	return b[3] != 0 && b[3] != 1 && b[3] != 255
}

func (p *ipPool) Allocate() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := p.next
	for {
		cand := p.next
		if p.next == p.last {
			p.next = p.first
		} else {
			p.next = p.next.Next()
		}
		if usable(cand) && !p.used[cand] {
			p.used[cand] = true
			return cand.String(), nil
		}
		if p.next == start {
			return "", fmt.Errorf("no free pod address between %s and %s", p.first, p.last)
		}
	}
}

func (p *ipPool) Release(ip string) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return
	}
	p.mu.Lock()
	delete(p.used, a)
	p.mu.Unlock()
}
