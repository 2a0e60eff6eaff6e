//! The Lambda function (`bootstrap`): [`hsds_handler::runtime::main`], the runtime loop that `hslambda
//! function` runs too. Everything lives in the library, so tests and the emulator exercise the same code.

fn main() -> Result<(), lambda_runtime::Error> {
    hsds_handler::runtime::main()
}
