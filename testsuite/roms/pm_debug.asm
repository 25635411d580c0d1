; Debug registers and alignment checking: instruction breakpoints (faults,
; before the instruction), data breakpoints (traps, after the access),
; single-step, general detect, and #AC at CPL 3 (SDM vol. 3 ch. 17,
; §6.15 interrupt 17). Needs a 486 or later.
%include "harness.inc"

test_main:
    mov esi, s_hello
    call print

    ; Instruction breakpoint on bp_target.
    mov eax, bp_target
    mov dr0, eax
    mov eax, 0x00000001                  ; L0, execute, 1 byte
    mov dr7, eax
    BEGIN_EXPECT
    nop
bp_target:
    nop
    END_EXPECT 1, NO_FAULT, "instruction breakpoint raises #DB"
    cmp dword [frame], bp_target
    CHECK "the breakpoint faults before the instruction (EIP = its address)"
    mov eax, dr6
    test eax, 1
    setnz al
    cmp al, 1
    CHECK "DR6.B0 reports it"
    xor eax, eax
    mov dr7, eax

    ; Data write breakpoint on the dword at 0x600.
    mov eax, 0x600
    mov dr1, eax
    mov eax, (1 << 2) | (0b1101 << 20)   ; L1, RW1=01 (write), LEN1=11 (4)
    mov dr7, eax
    BEGIN_EXPECT
    mov eax, [0x600]
    mov dword [0x602], 7
after_write:
    nop
    END_EXPECT 1, NO_FAULT, "data write breakpoint raises #DB"
    cmp dword [frame], after_write
    CHECK "the data breakpoint traps after the access"
    mov eax, dr6
    and eax, 0xF
    cmp eax, 2
    CHECK "DR6.B1 reports it"
    xor eax, eax
    mov dr7, eax

    ; Single-step: TF set by POPFD traps after the following instruction.
    BEGIN_EXPECT
    pushfd
    or dword [esp], 1 << 8
    popfd
    mov ebx, 1
after_step:
    nop
    END_EXPECT 1, NO_FAULT, "single-step trap"
    cmp dword [frame], after_step
    CHECK "single-step traps after one instruction"
    mov eax, dr6
    test eax, 1 << 14
    setnz al
    cmp al, 1
    CHECK "DR6.BS reports it"

    ; General detect: any DR access with DR7.GD set.
    mov eax, 1 << 13
    mov dr7, eax
    BEGIN_EXPECT
    mov eax, dr0
    END_EXPECT 1, NO_FAULT, "DR access with DR7.GD raises #DB"
    mov eax, dr6
    test eax, 1 << 13
    setnz al
    cmp al, 1
    CHECK "DR6.BD reports it"
    xor eax, eax
    mov dr7, eax

    ; Alignment check: CR0.AM, EFLAGS.AC, CPL 3.
    mov eax, cr0
    or eax, 1 << 18
    mov cr0, eax
    BEGIN_EXPECT
    pushfd
    or dword [esp], 1 << 18
    popfd
    mov eax, [0x601]
    END_EXPECT NO_FAULT, NO_FAULT, "misaligned access at CPL 0: no #AC"
    BEGIN_EXPECT
    TO_RING3 r3_misaligned, 0x00040002   ; AC set
    END_EXPECT 17, 0, "misaligned access at CPL 3 with AM and AC: #AC(0)"
    BEGIN_EXPECT
    TO_RING3 r3_aligned, 0x00040002     ; AC set
    END_EXPECT 0x30, NO_FAULT, "aligned access at CPL 3: no #AC"
    jmp finish

r3_misaligned:
    mov ax, SEL_DATA3
    mov ds, ax
    mov eax, [0x601]
    int 0x30
r3_aligned:
    mov ax, SEL_DATA3
    mov ds, ax
    mov eax, [0x604]
    int 0x30

s_hello: db "pm_debug: protected mode entered", 10, 0

%include "rom_end.inc"
