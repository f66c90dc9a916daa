//! Compile-fail tests: each misuse of #[corio::main] / #[corio::test] is an
//! error that says what to change (expected messages in tests/ui/*.stderr;
//! regenerate with TRYBUILD=overwrite after a deliberate change). The pass
//! case compiles and runs `main` returning a Result with `?` (the options are
//! tested in corio's tests/macros.rs).
#[test]
fn attribute_misuse_is_a_clear_compile_error() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail_*.rs");
    t.pass("tests/ui/pass_*.rs");
}
