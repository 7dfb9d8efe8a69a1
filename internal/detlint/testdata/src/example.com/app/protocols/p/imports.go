package p

import (
	crand "crypto/rand"   // want `^crypto/rand reads OS entropy that no seed can replay: use env\.Rand\(name\), a stream derived from the run's seed$`
	"io/ioutil"           // want `^io/ioutil does real file I/O outside the simulation: do I/O through the environment handle$`
	"math/rand"           // want `^math/rand is global/unseeded randomness: use env\.Rand\(name\), a stream derived from the run's seed$`
	randv2 "math/rand/v2" // want `^math/rand/v2 is global/unseeded randomness: use env\.Rand\(name\)`
	"os/exec"             // want `^os/exec runs real processes outside the simulation: do I/O through the environment handle$`
	"syscall"             // want `^syscall talks to the real OS outside the simulation: do I/O through the environment handle$`
	_ "unsafe"            // not on the list
)

func useImports() {
	// Uses of an already reported import are not reported again.
	_ = crand.Reader
	_ = ioutil.Discard
	_ = rand.Intn(3)
	_ = randv2.IntN(3)
	_ = exec.Command("true")
	_ = syscall.Getpid()
}
