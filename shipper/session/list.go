package session

// list is an intrusive doubly linked list of sessions, least recently used
// first.
type list struct {
	head, tail *session
	n          int
}

func (l *list) pushBack(s *session) {
	s.prev, s.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = s
	} else {
		l.head = s
	}
	l.tail = s
	l.n++
}

func (l *list) remove(s *session) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		l.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.next = nil, nil
	l.n--
}

// touch moves s to the back (most recently used).
func (l *list) touch(s *session) {
	if l.tail == s {
		return
	}
	l.remove(s)
	l.pushBack(s)
}
