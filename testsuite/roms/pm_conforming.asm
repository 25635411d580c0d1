; Conforming code segments: a far CALL from CPL 3 into a DPL 0 conforming
; segment runs at CPL 3 (no privilege change, no stack switch), while the
; same call into a non-conforming DPL 0 segment faults; a data load through
; a conforming readable segment at CPL 3 (SDM vol. 3 §5.8.1.2).
%include "harness.inc"

SEL_CONF    equ 0x48            ; DPL 0, conforming, readable code
SEL_NONCONF equ SEL_CODE32      ; DPL 0, non-conforming

test_main:
    mov esi, s_hello
    call print
    SET_DESC SEL_CONF / 8, 0, 0xFFFFF, 0x9E, 0xC     ; P, DPL 0, code conforming readable

    mov dword [scratch], 0xFF
    BEGIN_EXPECT
    TO_RING3 r3_call_conforming
    END_EXPECT 0x30, NO_FAULT, "CPL 3 far CALL into conforming DPL 0 code"
    cmp dword [scratch], 3
    CHECK "conforming code runs at the caller's CPL (CS.RPL = 3)"
    cmp dword [scratch + 4], STACK3_TOP - 8
    CHECK "no stack switch: the return address is on the ring-3 stack"

    BEGIN_EXPECT
    TO_RING3 r3_call_nonconforming
    END_EXPECT 13, SEL_NONCONF, "CPL 3 far CALL into non-conforming DPL 0 code: #GP(sel)"

    BEGIN_EXPECT
    TO_RING3 r3_read_through_conforming
    END_EXPECT 0x30, NO_FAULT, "CPL 3 loads a conforming readable code segment into DS"
    jmp finish

conf_target:
    mov ax, cs
    and eax, 3
    mov [scratch], eax
    mov [scratch + 4], esp
    retf

r3_call_conforming:
    mov ax, SEL_DATA3
    mov ds, ax
    call SEL_CONF:conf_target
    int 0x30
r3_call_nonconforming:
    call SEL_NONCONF | 3:conf_target
    int 0x30
r3_read_through_conforming:
    mov ax, SEL_CONF | 3
    mov ds, ax
    mov eax, [conf_target]
    int 0x30

s_hello: db "pm_conforming: protected mode entered", 10, 0

%include "rom_end.inc"
