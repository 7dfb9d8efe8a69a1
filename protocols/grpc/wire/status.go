package wire

import (
	"context"
	"errors"
	"fmt"
)

// Code is a gRPC status code (grpc/codes), carried in one byte.
type Code uint8

const (
	OK                 Code = 0
	Canceled           Code = 1
	Unknown            Code = 2
	InvalidArgument    Code = 3
	DeadlineExceeded   Code = 4
	NotFound           Code = 5
	AlreadyExists      Code = 6
	PermissionDenied   Code = 7
	ResourceExhausted  Code = 8
	FailedPrecondition Code = 9
	Aborted            Code = 10
	OutOfRange         Code = 11
	Unimplemented      Code = 12
	Internal           Code = 13
	Unavailable        Code = 14
	DataLoss           Code = 15
	Unauthenticated    Code = 16
)

var codeNames = [...]string{
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
	"AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
	"Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
	"Unauthenticated",
}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// Status is an RPC error: a code, a message and, optionally, the error that
// caused it (reachable with errors.Is / errors.As).
type Status struct {
	Code    Code
	Message string
	Cause   error
}

func (s *Status) Error() string {
	return fmt.Sprintf("rpc error: code = %s desc = %s", s.Code, s.Message)
}

// Unwrap returns the cause.
func (s *Status) Unwrap() error { return s.Cause }

// Errorf returns a *Status error with code c.
func Errorf(c Code, format string, args ...any) error {
	return &Status{Code: c, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns a *Status error with code c and message msg caused by err.
func Wrap(c Code, err error, msg string) error {
	return &Status{Code: c, Message: msg, Cause: err}
}

// FromError returns the *Status in err's chain, if any.
func FromError(err error) (*Status, bool) {
	var s *Status
	if errors.As(err, &s) {
		return s, true
	}
	return nil, false
}

// CodeOf returns err's code: OK for nil, the code of a *Status, Canceled or
// DeadlineExceeded for the context errors, Unknown otherwise.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	if s, ok := FromError(err); ok {
		return s.Code
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return Canceled
	}
	return Unknown
}

// MessageOf returns err's status message (err.Error() for a non-Status).
func MessageOf(err error) string {
	if err == nil {
		return ""
	}
	if s, ok := FromError(err); ok {
		return s.Message
	}
	return err.Error()
}
