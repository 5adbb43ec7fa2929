// The `backprop` executable: everything it does is in BackpropCommands (a library, so that the
// command-line parsing can also be fuzzed; see Fuzz/Sources/FuzzCLI).
import BackpropCommands

BackpropCommand.main()
