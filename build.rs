//! With `--features tch`: an rpath to the LibTorch that torch-sys linked (it sets none), so
//! the binary and the tests run without `LD_LIBRARY_PATH`. The path is absolute: moving the
//! Python venv that provides LibTorch breaks the binary.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
