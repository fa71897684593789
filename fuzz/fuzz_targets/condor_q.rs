//! Fuzz target: any text given as `condor_q -json` / `-jsonl` output must never panic; reading
//! only some attributes accepts and rejects exactly what reading all of them does and gives
//! those attributes the same values; ads written back as condor_q writes them read again.
#![no_main]

use holdadvisor_parsers::condor_q::{format_job_ads, parse_job_ads, parse_job_ads_keeping};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let all = parse_job_ads(text, "fuzz");
    let keep = ["ClusterId", "procid", "HoldReasonCode", "JobStatus"];
    let kept = parse_job_ads_keeping(text, "fuzz", &keep);
    match (&all, &kept) {
        (Ok(all), Ok(kept)) => {
            assert_eq!(all.len(), kept.len());
            for (a, k) in all.iter().zip(kept) {
                let wanted: Vec<_> = a
                    .attrs
                    .iter()
                    .filter(|(name, _)| keep.iter().any(|w| w.eq_ignore_ascii_case(name)))
                    .collect();
                assert_eq!(wanted.len(), k.attrs.len());
                for (w, k) in wanted.into_iter().zip(&k.attrs) {
                    // Compared through JSON: a NaN cannot come from JSON, but stay exact.
                    assert_eq!(w.0, k.0);
                    assert_eq!(w.1.to_json(), k.1.to_json());
                }
            }
        }
        (Err(_), Err(_)) => {}
        _ => panic!("keeping some attributes changed whether the text is accepted"),
    }
    if let Ok(ads) = all {
        let again = parse_job_ads(&format_job_ads(&ads), "again")
            .expect("ads written as condor_q writes them must read again");
        assert_eq!(again.len(), ads.len());
    }
});
